"""The C core's Linux port (firmware/ports/host) and its Python helper: the port's "silicon".

On a real board the HAL calls into the SDK for model admission, the camera and the inference
engine. The Linux port asks a helper process instead (``python -m hostlink.emulator.hostport``),
over a pipe, one request at a time: the helper admits and loads models with the emulator's own
checks, reads and preprocesses camera frames, and runs LiteRT. Everything else (framing, dispatch,
model store, reply cache, timing, markers) stays in C, so the conformance suite tests the C core.

Each message is a 1-byte op or 2-byte status followed by a u32-length-prefixed body; bodies reuse
the protocol v1 declarations (DeviceInfo, ModelInfo) where they carry the same thing. Constants
reach C through tools/gen_c_header.py (firmware/ports/host/hl_hostport.h).
"""
import enum

from construct import Enum, GreedyBytes, Int8ul, Int16ul, Int32ul, Prefixed, PrefixedArray, Struct

from .messages import DeviceInfo, ModelFormat, ModelInfo, Text8, Text16
from .status import ErrorCode


class PortOp(enum.IntEnum):
    INFO = 1  # -> PortInfo
    LOAD = 2  # LoadRequest -> messages.ModelInfo of the prepared candidate; refusals come back as the status
    ACTIVATE = 3  # -> empty: the prepared candidate becomes the model INVOKE runs
    SENSOR = 4  # SensorRequest -> empty: expose one frame, kept by the helper
    PREPROCESS = 5  # -> the model's input 0, raw bytes (resize, colour, quantize the last frame)
    INVOKE = 6  # InvokeRequest -> empty
    OUTPUTS = 7  # -> Tensors: every output of the last invoke


PortRequest = Struct("op" / Enum(Int8ul, PortOp), "body" / Prefixed(Int32ul, GreedyBytes))
PortReply = Struct("status" / Enum(Int16ul, ErrorCode), "body" / Prefixed(Int32ul, GreedyBytes))

#: Body of a reply whose status is not OK.
PortError = Struct("message" / Text16)

PortInfo = Struct(
    "device" / DeviceInfo,  # the profile's identity; the port overrides board, stages and max_payload
    "model_store_bytes" / Int32ul,
)

LoadRequest = Struct(
    "format" / Enum(Int8ul, ModelFormat),
    "crc32" / Int32ul,
    "name" / Text8,
    "path" / Text16,  # the CRC-verified image, copied out of the port's model store for the helper to read
)

SensorRequest = Struct("index" / Int32ul)

Tensors = PrefixedArray(Int8ul, Prefixed(Int32ul, GreedyBytes))

InvokeRequest = Struct("inputs" / Tensors)  # every input of the active model, raw bytes

#: op -> (request body, reply body); None for an empty body.
PORT_BODIES = {
    PortOp.INFO: (None, PortInfo),
    PortOp.LOAD: (LoadRequest, ModelInfo),
    PortOp.ACTIVATE: (None, None),
    PortOp.SENSOR: (SensorRequest, None),
    PortOp.PREPROCESS: (None, GreedyBytes),
    PortOp.INVOKE: (InvokeRequest, None),
    PortOp.OUTPUTS: (None, Tensors),
}
