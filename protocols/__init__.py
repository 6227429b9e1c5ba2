"""hostlink wire formats, declared with construct: the single source of truth.

Installed as ``hostlink.protocols`` (setup.cfg maps this folder there) so that the name never
collides with another installed top-level package. Modules import each other relatively.
"""
from .frame import (
    HEADER_SIZE,
    MAGIC,
    OVERHEAD,
    PROTOCOL_MAX_PAYLOAD,
    TRAILER_SIZE,
    VERSION,
    Flag,
    Frame,
    Header,
    HeaderFields,
    crc16,
    crc32,
)
from .messages import (
    FORMAT_NAMES,
    STAGE_NAMES,
    BoardKind,
    DType,
    InputSource,
    LogLevel,
    ModelFormat,
    MsgType,
    ResetMode,
    Stage,
    payload_struct,
)
from .status import RETRYABLE, ErrorCode

__all__ = [
    "HEADER_SIZE", "MAGIC", "OVERHEAD", "PROTOCOL_MAX_PAYLOAD", "TRAILER_SIZE", "VERSION", "Flag",
    "Frame", "Header", "HeaderFields", "crc16", "crc32", "FORMAT_NAMES", "STAGE_NAMES", "BoardKind",
    "DType", "InputSource", "LogLevel", "ModelFormat", "MsgType", "ResetMode", "Stage",
    "payload_struct", "RETRYABLE", "ErrorCode",
]
