"""Stable numeric error codes carried by ERROR and NAK. Never renumber; only append."""
import enum


class ErrorCode(enum.IntEnum):
    OK = 0
    # framing and protocol (NAK: the host may retry)
    BAD_CRC = 1
    BAD_VERSION = 2
    UNKNOWN_TYPE = 3
    BAD_PAYLOAD = 4
    PAYLOAD_TOO_LARGE = 5
    BUSY = 6
    # model store
    NO_MODEL = 16
    MODEL_TOO_LARGE = 17  # does not fit the model store
    MODEL_CRC_MISMATCH = 18
    MODEL_INCOMPLETE = 19
    MODEL_FORMAT_UNSUPPORTED = 20
    MODEL_NOT_INT8 = 21
    MODEL_OP_UNSUPPORTED = 22
    MODEL_ARENA_TOO_LARGE = 23  # activations do not fit the board's RAM
    MODEL_CORRUPT = 24
    NO_UPLOAD = 25  # CHUNK/COMMIT without BEGIN
    CHUNK_OUT_OF_RANGE = 26
    # capture
    INPUT_MISMATCH = 32
    NO_INPUT = 33
    CAMERA_FAILED = 34
    INFERENCE_FAILED = 35
    SOURCE_UNSUPPORTED = 36
    # anything else
    INTERNAL = 48


#: Codes after which repeating the same request may succeed.
RETRYABLE = frozenset({ErrorCode.BAD_CRC, ErrorCode.BUSY})
