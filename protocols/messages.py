"""Protocol v1 message types and their payloads.

Every payload is declared here once; the host, the emulator, the C header generator and the golden
vectors all read these declarations. A message type may have a different payload as a request and
as a response (`Flag.RESPONSE`); `payload_struct()` picks the right one.
"""
import enum

from construct import (
    Array,
    Enum,
    Flag as CFlag,
    FlagsEnum,
    Float32l,
    GreedyBytes,
    Int8ul,
    Int16ul,
    Int32sl,
    Int32ul,
    Int64ul,
    PascalString,
    Prefixed,
    PrefixedArray,
    Struct,
)

from .status import ErrorCode


class MsgType(enum.IntEnum):
    HELLO = 0x01
    DEVICE_INFO = 0x02
    ACK = 0x03
    NAK = 0x04
    ERROR = 0x05
    LOG = 0x06
    RESET = 0x07
    MODEL_BEGIN = 0x10
    MODEL_CHUNK = 0x11
    MODEL_COMMIT = 0x12
    MODEL_INFO = 0x13
    CAPTURE = 0x20
    INPUT = 0x21
    RESULT = 0x22


class BoardKind(enum.IntEnum):
    UNKNOWN = 0
    IMX500 = 1
    CORALMICRO = 2
    SPRESENSE = 3
    HOST = 4  # the C core's Linux port


class ModelFormat(enum.IntEnum):
    TFLITE = 1
    EDGETPU_TFLITE = 2
    IMX500_PACKEROUT = 3
    IMX500_RPK = 4


#: CLI / file-name spelling of each format.
FORMAT_NAMES = {
    ModelFormat.TFLITE: "tflite",
    ModelFormat.EDGETPU_TFLITE: "edgetpu-tflite",
    ModelFormat.IMX500_PACKEROUT: "imx500-packerout",
    ModelFormat.IMX500_RPK: "imx500-rpk",
}


class DType(enum.IntEnum):
    INT8 = 1
    UINT8 = 2
    INT16 = 3
    INT32 = 4
    FLOAT32 = 5


class Stage(enum.IntEnum):
    """Per-frame stages. The id is also the value a board drives on its marker pins."""

    IDLE = 0
    CAPTURE = 1  # exposure, sensor readout, ISP, pixels to the compute unit
    PREPROCESS = 2  # crop/resize/quantize into the input tensor
    INFERENCE = 3
    TRANSFER = 4  # retrieving the result from the compute unit


STAGE_NAMES = {
    Stage.CAPTURE: "capture",
    Stage.PREPROCESS: "preprocess",
    Stage.INFERENCE: "inference",
    Stage.TRANSFER: "transfer",
}


class InputSource(enum.IntEnum):
    SENSOR = 0
    HOST = 1


class ResetMode(enum.IntEnum):
    SOFT = 0  # drop the session state (staged upload, pending input); keep the active model
    BOOTLOADER = 1  # real boards only: reboot into the flashing mode


class LogLevel(enum.IntEnum):
    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40


Capabilities = FlagsEnum(
    Int32ul,
    SENSOR_CAPTURE=0x01,  # CAPTURE source=SENSOR
    HOST_INPUT=0x02,  # INPUT + CAPTURE source=HOST
    MARKERS=0x04,  # drives the stage id on marker pins
    EMULATED=0x08,  # a software board
    REALTIME=0x10,  # responses paced at board speed
    EDGETPU=0x20,
)

Formats = FlagsEnum(Int8ul, tflite=0x01, edgetpu_tflite=0x02, imx500_packerout=0x04, imx500_rpk=0x08)

Text8 = PascalString(Int8ul, "utf8")
Text16 = PascalString(Int16ul, "utf8")

TensorSpec = Struct(
    "name" / Text8,
    "dtype" / Enum(Int8ul, DType),
    "shape" / PrefixedArray(Int8ul, Int32ul),
    "scale" / Float32l,
    "zero_point" / Int32sl,
)

MemoryRegion = Struct("name" / Text8, "size" / Int32ul)

Hello = Struct(
    "proto_min" / Int8ul,
    "proto_max" / Int8ul,
    "max_payload" / Int32ul,  # the largest payload the host accepts in one frame
)

DeviceInfo = Struct(
    "board" / Enum(Int8ul, BoardKind),
    "board_name" / Text8,
    "serial" / Text8,
    "fw_version" / Array(3, Int8ul),
    "proto_version" / Int8ul,
    "capabilities" / Capabilities,
    "max_payload" / Int32ul,
    "clock_hz" / Int32ul,
    "link_bps" / Int32ul,  # 0 when the board cannot know (USB CDC)
    "formats" / Formats,
    "memory" / PrefixedArray(Int8ul, MemoryRegion),
    "stages" / PrefixedArray(Int8ul, Enum(Int8ul, Stage)),
)

Ack = Struct("value" / Int32ul)  # MODEL_CHUNK / INPUT: bytes staged so far; otherwise 0

Nak = Struct("code" / Enum(Int16ul, ErrorCode), "detail" / Text16)

Error = Struct("code" / Enum(Int16ul, ErrorCode), "message" / Text16)

Log = Struct("level" / Enum(Int8ul, LogLevel), "time_us" / Int64ul, "text" / Text16)

Reset = Struct("mode" / Enum(Int8ul, ResetMode))

ModelBegin = Struct(
    "size" / Int32ul,
    "crc32" / Int32ul,
    "format" / Enum(Int8ul, ModelFormat),
    "name" / Text8,
)

ModelChunk = Struct("offset" / Int32ul, "data" / GreedyBytes)

ModelCommit = Struct("crc32" / Int32ul)

ModelInfo = Struct(
    "loaded" / CFlag,
    "name" / Text8,
    "format" / Enum(Int8ul, ModelFormat),
    "size" / Int32ul,
    "crc32" / Int32ul,
    "arena_bytes" / Int32ul,
    "macs" / Int64ul,
    "expected_frame_us" / Int32ul,  # the board's own estimate; the host derives timeouts from it
    "engine" / Text8,
    "inputs" / PrefixedArray(Int8ul, TensorSpec),
    "outputs" / PrefixedArray(Int8ul, TensorSpec),
)

Capture = Struct(
    "count" / Int32ul,
    "period_us" / Int32ul,  # 0: back to back
    "source" / Enum(Int8ul, InputSource),
    "options" / FlagsEnum(Int8ul, return_input=0x01),
)

Input = Struct(
    "index" / Int8ul,  # input tensor index
    "total" / Int32ul,  # the tensor's size in bytes
    "offset" / Int32ul,
    "data" / GreedyBytes,
)

StageTime = Struct("stage" / Enum(Int8ul, Stage), "start" / Int64ul, "end" / Int64ul)  # board ticks

OutputTensor = Struct("spec" / TensorSpec, "data" / Prefixed(Int32ul, GreedyBytes))

Result = Struct(
    "frame" / Int32ul,
    "count" / Int32ul,
    "stages" / PrefixedArray(Int8ul, StageTime),
    "outputs" / PrefixedArray(Int8ul, OutputTensor),
)

Empty = Struct()

#: (type, is_response) -> payload declaration.
PAYLOADS = {
    (MsgType.HELLO, False): Hello,
    (MsgType.DEVICE_INFO, True): DeviceInfo,
    (MsgType.ACK, True): Ack,
    (MsgType.NAK, True): Nak,
    (MsgType.ERROR, True): Error,
    (MsgType.LOG, False): Log,
    (MsgType.RESET, False): Reset,
    (MsgType.MODEL_BEGIN, False): ModelBegin,
    (MsgType.MODEL_CHUNK, False): ModelChunk,
    (MsgType.MODEL_COMMIT, False): ModelCommit,
    (MsgType.MODEL_INFO, False): Empty,
    (MsgType.MODEL_INFO, True): ModelInfo,
    (MsgType.CAPTURE, False): Capture,
    (MsgType.INPUT, False): Input,
    (MsgType.RESULT, True): Result,
}

_COMPILED = {}


def payload_struct(msg_type: int, response: bool):
    """The compiled payload declaration for a message, or KeyError for an unknown pair."""
    key = (MsgType(msg_type), bool(response))
    try:
        return _COMPILED[key]
    except KeyError:
        pass
    struct = PAYLOADS[key]
    try:
        compiled = struct.compile()
    except Exception:  # construct cannot compile every construct; the interpreted one is correct
        compiled = struct
    _COMPILED[key] = compiled
    return compiled

