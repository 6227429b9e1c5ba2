"""Typed objects the client API returns; construct Containers never leak past the client."""
from dataclasses import dataclass, field

import numpy as np

from .protocols import DType

NUMPY_DTYPES = {
    DType.INT8: np.int8,
    DType.UINT8: np.uint8,
    DType.INT16: np.int16,
    DType.INT32: np.int32,
    DType.FLOAT32: np.float32,
}
DTYPE_BY_NAME = {d.name.lower(): d for d in DType}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # "int8", "uint8", "int16", "int32", "float32"
    shape: tuple[int, ...]
    scale: float = 0.0
    zero_point: int = 0

    @property
    def numpy_dtype(self):
        return NUMPY_DTYPES[DTYPE_BY_NAME[self.dtype]]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.numpy_dtype).itemsize

    def dequantize(self, data: np.ndarray) -> np.ndarray:
        if self.scale and self.dtype != "float32":
            return (data.astype(np.float32) - self.zero_point) * self.scale
        return data.astype(np.float32)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """Float values to this tensor's dtype with its own scale and zero point."""
        dt = self.numpy_dtype
        if self.dtype == "float32" or not self.scale:
            return np.asarray(values, dtype=dt)
        info = np.iinfo(dt)
        q = np.round(np.asarray(values, dtype=np.float32) / self.scale) + self.zero_point
        return np.clip(q, info.min, info.max).astype(dt)


@dataclass(frozen=True)
class DeviceInfo:
    board: str  # "imx500", "coralmicro", "spresense", "host"
    board_name: str
    serial: str
    fw_version: str
    proto_version: int
    capabilities: frozenset[str]
    max_payload: int
    clock_hz: int
    link_bps: int
    formats: tuple[str, ...]
    memory: dict[str, int]
    stages: tuple[str, ...]

    @property
    def emulated(self) -> bool:
        return "EMULATED" in self.capabilities


@dataclass(frozen=True)
class ModelInfo:
    loaded: bool
    name: str
    format: str
    size: int
    crc32: int
    arena_bytes: int
    macs: int
    expected_frame_us: int
    engine: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@dataclass(frozen=True)
class StageTiming:
    start_us: float  # board clock
    end_us: float

    @property
    def duration_ms(self) -> float:
        return (self.end_us - self.start_us) / 1000.0


@dataclass
class CaptureResult:
    frame: int
    count: int
    stages: dict[str, StageTiming]
    outputs: list[np.ndarray]  # raw, in the tensor's dtype
    output_specs: list[TensorSpec] = field(default_factory=list)

    @property
    def total_ms(self) -> float:
        if not self.stages:
            return 0.0
        return (max(s.end_us for s in self.stages.values()) - min(s.start_us for s in self.stages.values())) / 1000.0

    def dequantized(self) -> list[np.ndarray]:
        return [spec.dequantize(out) for spec, out in zip(self.output_specs, self.outputs)]
