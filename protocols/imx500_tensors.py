"""Per-frame IMX500 metadata as libcamera exports it (picamera2 ``request.get_metadata()``).

``CnnOutputTensorInfo`` is the raw bytes of libcamera's ``CnnOutputTensorInfoExported``
(little-endian, C layout)::

    char network_name[64]; u32 num_tensors;
    { u32 tensor_data_num; u32 num_dimensions; u16 size[16]; } info[16];   // 708 bytes
    [u8 frame_count; 3 bytes of struct padding]                            // newer libcamera: 712

``frame_count`` is the sensor's 8-bit frame counter of the frame the outputs belong to; with input
tensor injection it is compared with the driver's injection comparison frame to tell which
injected tensor the outputs came from (picamera2 ``IMX500.get_injection_cmp_frm``).

``CnnOutputTensor`` is every output as float32, concatenated; tensor i takes the next
``tensor_data_num`` values reshaped to ``size[:num_dimensions]`` in Fortran order.
``CnnKpiInfo`` is (dnnRuntime, dspRuntime) in microseconds.
"""
from construct import Array, Bytes, Int16ul, Int32ul, Struct

NETWORK_NAME_LEN = 64
MAX_TENSORS = 16
MAX_DIMENSIONS = 16

OutputTensorInfo = Struct(
    "tensor_data_num" / Int32ul,
    "num_dimensions" / Int32ul,
    "size" / Array(MAX_DIMENSIONS, Int16ul),
)

CnnOutputTensorInfo = Struct(
    "network_name" / Bytes(NETWORK_NAME_LEN),
    "num_tensors" / Int32ul,
    "info" / Array(MAX_TENSORS, OutputTensorInfo),
)

INFO_SIZE = CnnOutputTensorInfo.sizeof()  # 708


class TensorInfoError(ValueError):
    """Metadata that does not describe the tensor it came with."""


def output_shapes(info: bytes) -> tuple[str, list[tuple[int, ...]], list[int]]:
    """(network name, shape per output, element count per output) from CnnOutputTensorInfo."""
    raw = bytes(info)
    if len(raw) < INFO_SIZE:
        raise TensorInfoError(f"CnnOutputTensorInfo is {len(raw)} bytes, expected at least {INFO_SIZE}")
    parsed = CnnOutputTensorInfo.parse(raw[:INFO_SIZE])
    if parsed.num_tensors > MAX_TENSORS:
        raise TensorInfoError(f"CnnOutputTensorInfo claims {parsed.num_tensors} tensors (max {MAX_TENSORS})")
    shapes, counts = [], []
    for t in parsed.info[:parsed.num_tensors]:
        if t.num_dimensions > MAX_DIMENSIONS:
            raise TensorInfoError(f"a tensor claims {t.num_dimensions} dimensions (max {MAX_DIMENSIONS})")
        shape = tuple(int(d) for d in t.size[:t.num_dimensions])
        count = 1
        for d in shape:
            count *= d
        if count != t.tensor_data_num:
            raise TensorInfoError(f"tensor shape {shape} holds {count} values but tensor_data_num is "
                                  f"{t.tensor_data_num}")
        shapes.append(shape)
        counts.append(int(t.tensor_data_num))
    name = parsed.network_name.split(b"\0")[0].decode("ascii", "replace")
    return name, shapes, counts


def frame_count(info: bytes) -> int | None:
    """The frame counter that follows the 708-byte layout, or None when libcamera exports none."""
    raw = bytes(info)
    return raw[INFO_SIZE] if len(raw) > INFO_SIZE else None


def build_output_tensor_info(name: str, shapes: list[tuple[int, ...]], frame_count: int | None = None) -> bytes:
    """The metadata bytes for ``shapes`` (what a fake camera hands out in tests); with frame_count,
    the newer layout that ends in the 8-bit frame counter."""
    info = []
    for shape in shapes:
        count = 1
        for d in shape:
            count *= d
        info.append(dict(tensor_data_num=count, num_dimensions=len(shape),
                         size=list(shape) + [0] * (MAX_DIMENSIONS - len(shape))))
    info += [dict(tensor_data_num=0, num_dimensions=0, size=[0] * MAX_DIMENSIONS)] * (MAX_TENSORS - len(shapes))
    raw = CnnOutputTensorInfo.build(dict(network_name=name.encode().ljust(NETWORK_NAME_LEN, b"\0"),
                                         num_tensors=len(shapes), info=info))
    return raw if frame_count is None else raw + bytes([frame_count & 0xFF, 0, 0, 0])  # padded to 4, as in C
