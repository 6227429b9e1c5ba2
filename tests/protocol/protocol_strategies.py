"""Hypothesis strategies for every protocol v1 payload, as the dicts construct builds from.

Kept next to the protocol tests (and importable by the fuzz tests) so that a new message type
needs one strategy here and is then covered by every round-trip test.
"""
from hypothesis import strategies as st

from hostlink.protocols import BoardKind, DType, ErrorCode, InputSource, LogLevel, ModelFormat, MsgType, ResetMode, Stage
from hostlink.protocols import messages as M

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, (1 << 64) - 1)
i32 = st.integers(-(1 << 31), (1 << 31) - 1)
f32 = st.floats(width=32, allow_nan=False)


def _fits(limit):
    return lambda s: len(s.encode("utf8")) <= limit


text8 = st.text(max_size=40).filter(_fits(255))
text16 = st.text(max_size=300).filter(_fits(0xFFFF))


def enum_names(enum):
    return st.sampled_from([e.name for e in enum])


def flags_of(flags_enum):
    names = [k for k in flags_enum.flags]
    return st.fixed_dictionaries({n: st.booleans() for n in names})


tensor_spec = st.fixed_dictionaries(dict(
    name=text8, dtype=enum_names(DType), shape=st.lists(u32, max_size=6), scale=f32, zero_point=i32))

hello = st.fixed_dictionaries(dict(proto_min=u8, proto_max=u8, max_payload=u32))
device_info = st.fixed_dictionaries(dict(
    board=enum_names(BoardKind), board_name=text8, serial=text8, fw_version=st.lists(u8, min_size=3, max_size=3),
    proto_version=u8, capabilities=flags_of(M.Capabilities), max_payload=u32, clock_hz=u32, link_bps=u32,
    formats=flags_of(M.Formats), memory=st.lists(st.fixed_dictionaries(dict(name=text8, size=u32)), max_size=4),
    stages=st.lists(enum_names(Stage), max_size=5)))
ack = st.fixed_dictionaries(dict(value=u32))
nak = st.fixed_dictionaries(dict(code=enum_names(ErrorCode), detail=text16))
error = st.fixed_dictionaries(dict(code=enum_names(ErrorCode), message=text16))
log = st.fixed_dictionaries(dict(level=enum_names(LogLevel), time_us=u64, text=text16))
reset = st.fixed_dictionaries(dict(mode=enum_names(ResetMode)))
model_begin = st.fixed_dictionaries(dict(size=u32, crc32=u32, format=enum_names(ModelFormat), name=text8))
model_chunk = st.fixed_dictionaries(dict(offset=u32, data=st.binary(max_size=600)))
model_commit = st.fixed_dictionaries(dict(crc32=u32))
empty = st.just({})
model_info = st.fixed_dictionaries(dict(
    loaded=st.booleans(), name=text8, format=enum_names(ModelFormat), size=u32, crc32=u32, arena_bytes=u32,
    macs=u64, expected_frame_us=u32, engine=text8, inputs=st.lists(tensor_spec, max_size=3),
    outputs=st.lists(tensor_spec, max_size=3)))
capture = st.fixed_dictionaries(dict(count=u32, period_us=u32, source=enum_names(InputSource),
                                     options=flags_of(M.Capture.subcons[3].subcon)))
input_ = st.fixed_dictionaries(dict(index=u8, total=u32, offset=u32, data=st.binary(max_size=600)))
stage_time = st.fixed_dictionaries(dict(stage=enum_names(Stage), start=u64, end=u64))
output_tensor = st.fixed_dictionaries(dict(spec=tensor_spec, data=st.binary(max_size=200)))
result = st.fixed_dictionaries(dict(frame=u32, count=u32, stages=st.lists(stage_time, max_size=5),
                                    outputs=st.lists(output_tensor, max_size=3)))

#: (type, is_response) -> strategy; must cover messages.PAYLOADS exactly (a test checks it).
PAYLOAD_STRATEGIES = {
    (MsgType.HELLO, False): hello,
    (MsgType.DEVICE_INFO, True): device_info,
    (MsgType.ACK, True): ack,
    (MsgType.NAK, True): nak,
    (MsgType.ERROR, True): error,
    (MsgType.LOG, False): log,
    (MsgType.RESET, False): reset,
    (MsgType.MODEL_BEGIN, False): model_begin,
    (MsgType.MODEL_CHUNK, False): model_chunk,
    (MsgType.MODEL_COMMIT, False): model_commit,
    (MsgType.MODEL_INFO, False): empty,
    (MsgType.MODEL_INFO, True): model_info,
    (MsgType.CAPTURE, False): capture,
    (MsgType.INPUT, False): input_,
    (MsgType.RESULT, True): result,
}

message = st.sampled_from(sorted(PAYLOAD_STRATEGIES)).flatmap(
    lambda key: st.tuples(st.just(key), PAYLOAD_STRATEGIES[key]))


FLAG_FIELDS = ("capabilities", "formats", "options")


def normalize(value):
    """A parsed construct value as plain Python: drops construct's bookkeeping keys, turns enum
    strings into their names and flag containers into the set of flags that are set."""
    if isinstance(value, dict):
        return {k: (frozenset(n for n, on in v.items() if not n.startswith("_") and on) if k in FLAG_FIELDS
                    else normalize(v)) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def normalize_input(key, value):
    """The dict a strategy produced, in the shape ``normalize`` gives a parsed payload."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in FLAG_FIELDS:
                out[k] = frozenset(n for n, on in v.items() if on)
            else:
                out[k] = normalize_input(key, v)
        return out
    if isinstance(value, list):
        return [normalize_input(key, v) for v in value]
    return value
