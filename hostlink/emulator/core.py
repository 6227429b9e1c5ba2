"""The board side of protocol v1, independent of what executes the model.

``BoardCore`` owns the protocol state machine (handshake, staged upload with atomic commit, input
staging, capture loop, reply cache, fragmentation); a ``Backend`` owns the hardware or its model:
admission and loading, the clock, and running one frame. The emulator supplies an emulated
backend; the IMX500 agent supplies one built on picamera2. The C core in firmware/core mirrors
this state machine and the conformance suite holds both to it.
"""
import abc
import collections
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import fastcodec
from .. import protocols as P
from ..framing import Deframer, RawFrame, encode_frame
from ..protocols import messages as M
from ..types import TensorSpec

#: Replies kept for re-sending when the host repeats a request (same seq, type and payload).
REPLY_CACHE_ENTRIES = 32
#: A reply larger than this (a long capture) is not cached; repeating it re-runs the frames.
REPLY_CACHE_MAX_BYTES = 1 << 20
#: Payload size the board assumes for the host before HELLO says otherwise.
DEFAULT_HOST_MAX_PAYLOAD = 4096
_RESPONSE = int(P.Flag.RESPONSE)  # a plain int: `int & IntFlag` costs an enum call per frame
# MODEL_CHUNK (u32 offset + data) and ACK (u32) by struct: a host on a noisy link sends thousands
# of small chunks per upload, and construct's generic parse and build cost more than the rest of
# the chunk's handling. Same bytes as protocols.messages.ModelChunk / Ack.
_U32 = struct.Struct("<I")
_MODEL_CHUNK = int(P.MsgType.MODEL_CHUNK)


class _ChunkBody(collections.namedtuple("_ChunkBody", "offset data")):
    __slots__ = ()


class BoardError(Exception):
    """Refuse the current request with an ERROR carrying ``code``."""

    def __init__(self, code: P.ErrorCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class LoadedModel:
    name: str
    format: P.ModelFormat
    size: int
    crc32: int
    arena_bytes: int
    macs: int
    expected_frame_us: int
    engine: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    handle: Any = None  # backend-private: interpreter, timing path, ...


@dataclass
class FrameOutcome:
    stages: list[tuple[P.Stage, int, int]]  # (stage, start tick, end tick)
    outputs: list[np.ndarray]  # raw, in each output spec's dtype


class Backend(abc.ABC):
    max_payload: int = 4096
    has_sensor: bool = True

    @abc.abstractmethod
    def device_info(self) -> dict:
        """DeviceInfo fields except proto_version and max_payload."""

    def check_begin(self, size: int, fmt: P.ModelFormat, name: str) -> None:
        """Refuse an upload early (format, store size) before any chunk is sent."""

    @abc.abstractmethod
    def load(self, data: bytes, fmt: P.ModelFormat, name: str, crc: int) -> LoadedModel:
        """Admit and prepare a verified image; raise BoardError to refuse it."""

    @abc.abstractmethod
    def now(self) -> int:
        """Board clock, in ticks of device_info()['clock_hz']."""

    def on_request(self) -> None:
        """Called before each request is handled (an emulator accounts host idle time here)."""

    def wait_until(self, tick: int) -> None:
        """Idle until the board clock reaches ``tick`` (frame periods)."""

    @abc.abstractmethod
    def run_frame(self, model: LoadedModel, host_inputs: list[np.ndarray] | None, index: int) -> FrameOutcome: ...


@dataclass
class _Staging:
    size: int
    crc32: int
    format: P.ModelFormat
    name: str
    data: bytearray = field(init=False)
    have: bytearray = field(init=False)
    received: int = 0

    def __post_init__(self):
        self.data = bytearray(self.size)
        self.have = bytearray(self.size)


class BoardCore:
    def __init__(self, backend: Backend, emit: Callable[[bytes], None], *, version: int = P.VERSION):
        self.backend = backend
        self.emit = emit
        self.version = version
        self.deframer = Deframer(backend.max_payload + 64)
        self.active: LoadedModel | None = None
        self.host_max_payload = DEFAULT_HOST_MAX_PAYLOAD
        self._staging: _Staging | None = None
        self._inputs: dict[int, list] = {}  # index -> [bytearray, have-mask, bytes received]
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._event_seq = 0
        self._result_specs: tuple = (None, [])
        self._handlers = {
            P.MsgType.HELLO: self._hello,
            P.MsgType.MODEL_BEGIN: self._model_begin,
            P.MsgType.MODEL_CHUNK: self._model_chunk,
            P.MsgType.MODEL_COMMIT: self._model_commit,
            P.MsgType.MODEL_INFO: self._model_info,
            P.MsgType.INPUT: self._input,
            P.MsgType.CAPTURE: self._capture,
            P.MsgType.RESET: self._reset,
        }

    # ---------------------------------------------------------------- transport side
    def feed(self, data: bytes) -> None:
        for f in self.deframer.feed(data):
            self.handle(f)

    def _send(self, mtype: int, seq: int, payload: bytes, out: list | None, flags: int = P.Flag.RESPONSE) -> None:
        limit = max(64, min(self.host_max_payload, self.backend.max_payload))
        if len(payload) <= limit:
            frames = [encode_frame(mtype, flags, seq, payload, self.version)]
        else:
            frames = [encode_frame(mtype, flags | (P.Flag.MORE if off + limit < len(payload) else 0), seq,
                                   payload[off:off + limit], self.version) for off in range(0, len(payload), limit)]
        for fr in frames:
            self.emit(fr)
        if out is not None:
            out.extend(frames)

    def log(self, level: P.LogLevel, text: str) -> None:
        self._event_seq = (self._event_seq + 1) & 0xFFFF
        payload = M.Log.build(dict(level=level.name, time_us=self._now_us(), text=text[:2000]))
        self.emit(encode_frame(P.MsgType.LOG, P.Flag.EVENT, self._event_seq, payload, self.version))

    def _now_us(self) -> int:
        hz = self.backend.device_info()["clock_hz"]
        return int(self.backend.now() * 1_000_000 // hz)

    def _error(self, seq: int, code: P.ErrorCode, message: str, out: list | None) -> None:
        self._send(P.MsgType.ERROR, seq, M.Error.build(dict(code=code.name, message=message[:4000])), out)

    def _ack(self, seq: int, value: int, out: list | None) -> None:
        self._send(P.MsgType.ACK, seq, _U32.pack(value), out)

    # ---------------------------------------------------------------- dispatch
    def handle(self, f: RawFrame) -> None:
        if f.flags & _RESPONSE:
            return  # a board never receives replies; an echo on a loopback is ignored
        if f.version != self.version:
            self._error(f.seq, P.ErrorCode.BAD_VERSION,
                        f"protocol v{f.version} is not supported; this board speaks v{self.version}", None)
            return
        key = (f.seq, f.type, zlib.crc32(f.payload))
        cached = self._cache.get(key)
        if cached is not None:
            for fr in cached:
                self.emit(fr)
            return
        out: list = []
        handler = self._handlers.get(f.type)
        self.backend.on_request()
        if handler is None:
            self._error(f.seq, P.ErrorCode.UNKNOWN_TYPE, f"message type 0x{f.type:02x} is not a request this board handles", out)
        else:
            try:
                if f.type == _MODEL_CHUNK and len(f.payload) >= 4:
                    body = _ChunkBody(_U32.unpack_from(f.payload)[0], f.payload[4:])
                else:
                    body = P.payload_struct(f.type, False).parse(f.payload)
            except Exception as exc:  # construct raises many types for malformed payloads
                self._error(f.seq, P.ErrorCode.BAD_PAYLOAD, f"malformed {P.MsgType(f.type).name} payload: {exc}", out)
            else:
                try:
                    handler(f.seq, body, out)
                except BoardError as err:
                    self._error(f.seq, err.code, err.message, out)
                except Exception as exc:  # the board must answer, whatever broke inside it
                    self._error(f.seq, P.ErrorCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}", out)
        if f.type != P.MsgType.HELLO and sum(map(len, out)) <= REPLY_CACHE_MAX_BYTES:
            self._cache[key] = out
            if len(self._cache) > REPLY_CACHE_ENTRIES:
                self._cache.popitem(last=False)

    # ---------------------------------------------------------------- handlers
    def _hello(self, seq, body, out):
        if body.proto_max < self.version or body.proto_min > self.version:
            raise BoardError(P.ErrorCode.BAD_VERSION,
                             f"host speaks v{body.proto_min}..v{body.proto_max}, this board speaks v{self.version}")
        self.host_max_payload = max(64, body.max_payload)
        self._cache.clear()
        info = dict(self.backend.device_info())
        info.update(proto_version=self.version, max_payload=self.backend.max_payload)
        self._send(P.MsgType.DEVICE_INFO, seq, M.DeviceInfo.build(info), out)

    def _model_begin(self, seq, body, out):
        try:
            fmt = P.ModelFormat[str(body.format)]
        except KeyError:
            raise BoardError(P.ErrorCode.MODEL_FORMAT_UNSUPPORTED, f"unknown model format {int(body.format)}") from None
        self._staging = None
        self.backend.check_begin(body.size, fmt, body.name)
        if body.size == 0:
            raise BoardError(P.ErrorCode.BAD_PAYLOAD, "model size is 0")
        self._staging = _Staging(body.size, body.crc32, fmt, body.name)
        self._ack(seq, 0, out)

    def _model_chunk(self, seq, body, out):
        st = self._staging
        if st is None:
            raise BoardError(P.ErrorCode.NO_UPLOAD, "MODEL_CHUNK without MODEL_BEGIN")
        off, data = body.offset, body.data
        if off + len(data) > st.size:
            raise BoardError(P.ErrorCode.CHUNK_OUT_OF_RANGE,
                             f"chunk at {off}+{len(data)} runs past the announced size {st.size}")
        # Chunks may come in any size at any offset, overlap and repeat (a host that shrinks its
        # chunks on a noisy link resends a range cut differently): count newly covered bytes.
        st.received += st.have.count(0, off, off + len(data))
        st.data[off:off + len(data)] = data
        st.have[off:off + len(data)] = b"\x01" * len(data)
        self._ack(seq, st.received, out)

    def _model_commit(self, seq, body, out):
        st, self._staging = self._staging, None  # a failed commit discards the staged image
        if st is None:
            raise BoardError(P.ErrorCode.NO_UPLOAD, "MODEL_COMMIT without MODEL_BEGIN")
        if body.crc32 != st.crc32:
            raise BoardError(P.ErrorCode.MODEL_CRC_MISMATCH, "commit CRC differs from the one announced in MODEL_BEGIN")
        missing = st.have.count(0)
        if missing:
            raise BoardError(P.ErrorCode.MODEL_INCOMPLETE, f"{missing} of {st.size} bytes never arrived; upload again")
        actual = zlib.crc32(st.data) & 0xFFFFFFFF
        if actual != st.crc32:
            raise BoardError(P.ErrorCode.MODEL_CRC_MISMATCH,
                             f"image CRC is {actual:08x}, expected {st.crc32:08x}: data was corrupted in transit; "
                             "the active model is unchanged")
        model = self.backend.load(bytes(st.data), st.format, st.name, st.crc32)
        self.active = model
        self._inputs.clear()
        self.log(P.LogLevel.INFO, f"model {model.name!r} active: {model.size} bytes, arena {model.arena_bytes} bytes, "
                                  f"{model.macs} MACs, {model.engine}")
        self._send(P.MsgType.MODEL_INFO, seq, self._model_info_payload(), out)

    def _model_info_payload(self) -> bytes:
        m = self.active
        if m is None:
            return M.ModelInfo.build(dict(loaded=False, name="", format="TFLITE", size=0, crc32=0, arena_bytes=0,
                                          macs=0, expected_frame_us=0, engine="", inputs=[], outputs=[]))
        return M.ModelInfo.build(dict(
            loaded=True, name=m.name[:255], format=m.format.name, size=m.size, crc32=m.crc32, arena_bytes=m.arena_bytes,
            macs=m.macs, expected_frame_us=m.expected_frame_us, engine=m.engine[:255],
            inputs=[_spec_dict(s) for s in m.inputs], outputs=[_spec_dict(s) for s in m.outputs]))

    def _model_info(self, seq, body, out):
        self._send(P.MsgType.MODEL_INFO, seq, self._model_info_payload(), out)

    def _input(self, seq, body, out):
        m = self.active
        if m is None:
            raise BoardError(P.ErrorCode.NO_MODEL, "no model is loaded; upload one before sending input")
        if body.index >= len(m.inputs):
            raise BoardError(P.ErrorCode.INPUT_MISMATCH, f"the model has {len(m.inputs)} input(s), not {body.index + 1}")
        need = m.inputs[body.index].nbytes
        if body.total != need:
            raise BoardError(P.ErrorCode.INPUT_MISMATCH,
                             f"input {body.index} needs {need} bytes {m.inputs[body.index].shape}, got {body.total}")
        if body.offset + len(body.data) > need:
            raise BoardError(P.ErrorCode.CHUNK_OUT_OF_RANGE, f"input chunk at {body.offset} runs past {need} bytes")
        slot = self._inputs.get(body.index)
        if slot is None or body.offset == 0 and slot[2] >= need:
            slot = self._inputs[body.index] = [bytearray(need), bytearray(need), 0]
        end = body.offset + len(body.data)
        slot[2] += slot[1].count(0, body.offset, end)
        slot[0][body.offset:end] = body.data
        slot[1][body.offset:end] = b"\x01" * len(body.data)
        self._ack(seq, slot[2], out)

    def _capture(self, seq, body, out):
        m = self.active
        if m is None:
            raise BoardError(P.ErrorCode.NO_MODEL, "no model is loaded; upload one first")
        try:
            source = P.InputSource[str(body.source)]
        except KeyError:
            raise BoardError(P.ErrorCode.SOURCE_UNSUPPORTED, f"unknown input source {int(body.source)}") from None
        host_inputs = None
        if source == P.InputSource.HOST:
            host_inputs = []
            for i, spec in enumerate(m.inputs):
                slot = self._inputs.get(i)
                if slot is None or slot[1].count(0):
                    raise BoardError(P.ErrorCode.NO_INPUT, f"input {i} has not been sent completely")
                host_inputs.append(np.frombuffer(bytes(slot[0]), dtype=spec.numpy_dtype).reshape(spec.shape))
        elif not self.backend.has_sensor:
            raise BoardError(P.ErrorCode.SOURCE_UNSUPPORTED, "this board has no sensor; send INPUT and capture from HOST")
        if body.count == 0:
            raise BoardError(P.ErrorCode.BAD_PAYLOAD, "capture count is 0")
        hz = self.backend.device_info()["clock_hz"]
        period_ticks = body.period_us * hz // 1_000_000
        t0 = self.backend.now()
        if self._result_specs[0] is not m:  # the encoded output specs are constant per model
            self._result_specs = (m, [(fastcodec.encode_spec(s.name, s.dtype, s.shape, s.scale, s.zero_point),
                                       s.numpy_dtype) for s in m.outputs])
        specs = self._result_specs[1]
        for i in range(body.count):
            if period_ticks:
                self.backend.wait_until(t0 + i * period_ticks)
            outcome = self.backend.run_frame(m, host_inputs, i)
            payload = fastcodec.encode_result(
                i, body.count, outcome.stages,
                [(spec, np.ascontiguousarray(arr, dtype=dt).tobytes()) for (spec, dt), arr in zip(specs, outcome.outputs)])
            self._send(P.MsgType.RESULT, seq, payload, out)

    def _reset(self, seq, body, out):
        self._staging = None
        self._inputs.clear()
        self._ack(seq, 0, out)


def _spec_dict(s: TensorSpec) -> dict:
    return dict(name=s.name[:255], dtype=s.dtype.upper(), shape=list(s.shape), scale=s.scale, zero_point=s.zero_point)
