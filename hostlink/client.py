"""The device client: typed requests to a board over any Link.

Requests carry a 16-bit sequence number and replies echo it, so a late reply to an abandoned
request is recognised and dropped. Every deadline is derived from the work asked (bytes on the
wire, the board's own frame-time estimate), never a fixed constant; a timeout, a NAK or a reply
lost to corruption is retried with the same seq, which the board answers from its reply cache
instead of doing the work twice.
"""
import bisect
import collections
import dataclasses
import functools
import math
import struct
import time
import zlib
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from . import fastcodec
from . import protocols as P
from .config import DEFAULT_TIMEOUTS, Timeouts
from .device_handle import DeviceHandle
from .errors import ConfigError, DeviceError, LinkError, LinkTimeout, ModelFileError, ModelRefused, ProtocolError
from .framing import Deframer, RawFrame, encode_frame
from .links.base import Link
from .protocols import messages as M
from .types import CaptureResult, DeviceInfo, ModelInfo, StageTiming, TensorSpec
from .upload import MAX_FRAMES_IN_FLIGHT, ChunkSizer, UploadPolicy, frames_in_flight

#: The largest payload this host accepts in one frame (announced in HELLO).
HOST_MAX_PAYLOAD = 1 << 20
# Plain ints: `int & IntFlag` goes through the enum machinery, a cost paid on every frame.
_RESPONSE, _MORE, _EVENT = int(P.Flag.RESPONSE), int(P.Flag.MORE), int(P.Flag.EVENT)
_ACK = int(P.MsgType.ACK)

_MODEL_CODES = {
    P.ErrorCode.MODEL_TOO_LARGE, P.ErrorCode.MODEL_FORMAT_UNSUPPORTED, P.ErrorCode.MODEL_NOT_INT8,
    P.ErrorCode.MODEL_OP_UNSUPPORTED, P.ErrorCode.MODEL_ARENA_TOO_LARGE, P.ErrorCode.MODEL_CORRUPT,
}
#: Bytes ahead of the data in a MODEL_CHUNK (offset) and an INPUT (index, total, offset) payload.
_CHUNK_HEADER = 4
_INPUT_HEADER = 9
#: An ACK frame on the wire (the u32 value plus framing): what each chunk's round trip adds.
_ACK_FRAME_BYTES = P.OVERHEAD + 4
#: A MODEL_INFO reply is a few hundred bytes (names and tensor specs); a generous estimate.
_MODEL_INFO_REPLY_BYTES = 1024
#: Shortest deadline from the measured round trip: OS scheduling (tens of ms on a loaded host) and
#: USB polling (1 ms frames) jitter below it; a deadline that fires early costs a repeated chunk.
RTO_FLOOR_S = 0.05
#: Default upload budget: this many seconds plus this many times the image's clean wire time.
UPLOAD_BUDGET_BASE_S = 20.0
UPLOAD_BUDGET_WIRE_FACTOR = 10.0

_FORMAT_BY_SUFFIX = {".tflite": P.ModelFormat.TFLITE, ".zip": P.ModelFormat.IMX500_PACKEROUT,
                     ".rpk": P.ModelFormat.IMX500_RPK}


@dataclasses.dataclass(slots=True, eq=False)
class _Chunk:
    """One piece of a stream in flight: its bytes, its seq, and when it went out."""
    off: int
    size: int
    seq: int
    payload: bytes
    tx_no: int = 0  # the stream's transmission counter at its latest send
    sent_at: float = 0.0
    sends: int = 0


def _spec(c) -> TensorSpec:
    return TensorSpec(c.name, str(c.dtype).lower(), tuple(c.shape), float(c.scale), int(c.zero_point))


def _flags(c) -> frozenset[str]:
    return frozenset(k for k, v in c.items() if not k.startswith("_") and v is True)


_FORMAT_BY_KIND = {"tflite": P.ModelFormat.TFLITE, "edgetpu-tflite": P.ModelFormat.EDGETPU_TFLITE,
                   "packerout-zip": P.ModelFormat.IMX500_PACKEROUT, "rpk": P.ModelFormat.IMX500_RPK}


def model_format_for(data: bytes, path: str | None = None) -> P.ModelFormat:
    """Recognise a model file by content, falling back to its suffix."""
    from .models.magic import sniff

    kind = sniff(data)
    if kind is not None:
        return _FORMAT_BY_KIND[kind]
    if path and Path(path).suffix.lower() in _FORMAT_BY_SUFFIX and Path(path).suffix.lower() != ".tflite":
        return _FORMAT_BY_SUFFIX[Path(path).suffix.lower()]
    raise ModelFileError(f"{path or 'model'} is not a model hostlink knows ({len(data)} bytes, starts {data[:8].hex()})",
                         "expected an INT8 .tflite (FlatBuffer with the TFL3 identifier), an IMX500 packerOut.zip or .rpk")


def read_model_file(path: str | Path) -> bytes:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"model file {p} does not exist", "check the path") from None
    except IsADirectoryError:
        raise ModelFileError(f"{p} is a directory, not a model file") from None
    except PermissionError:
        raise ModelFileError(f"cannot read {p}: permission denied") from None
    if not data:
        raise ModelFileError(f"model file {p} is empty")
    return data


class Device(DeviceHandle):
    """A connected board. Use ``hostlink.connect(url)`` rather than building one directly."""

    def __init__(self, link: Link, *, timeouts: Timeouts = DEFAULT_TIMEOUTS,
                 trace: Callable[[str, RawFrame], None] | None = None,
                 opener: Callable[[], Link] | None = None, upload_policy: UploadPolicy | None = None):
        super().__init__(link)
        self.timeouts = timeouts
        self.upload_policy = upload_policy or UploadPolicy()
        self.trace = trace
        self.logs: collections.deque = collections.deque(maxlen=1000)
        self.info: DeviceInfo | None = None
        self.model: ModelInfo | None = None
        self.stats = collections.Counter()
        self._opener = opener
        self._deframer = Deframer(HOST_MAX_PAYLOAD)
        self._ready: collections.deque[RawFrame] = collections.deque()
        self._fragments: dict[tuple[int, int], bytearray] = {}
        self._seq = 0

    # ------------------------------------------------------------------ lifecycle (DeviceHandle)
    def reconnect(self) -> DeviceInfo:
        """Close and reopen the link (after a board reset or replug) and say HELLO again."""
        if self._opener is None:
            raise LinkError(f"cannot reconnect to {self.link.url}: it was not opened by hostlink.connect")
        self.link.close()
        self.link = self._opener()
        self._deframer.reset()
        self._ready.clear()
        self._fragments.clear()
        return self.hello()

    # ------------------------------------------------------------------ frames
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _send(self, mtype: int, seq: int, payload: bytes) -> None:
        if self.trace:
            self.trace("tx", RawFrame(mtype, 0, seq, payload))
        self.link.write(encode_frame(mtype, 0, seq, payload))
        self.stats["tx_frames"] += 1

    def _pump(self, timeout: float) -> None:
        data = self.link.read(timeout)
        if not data:
            return
        for f in self._deframer.feed(data):
            if self.trace:
                self.trace("rx", f)
            if f.flags & _EVENT:
                self._on_event(f)
                continue
            key = (f.seq, f.type)
            if f.flags & _MORE:
                self._fragments.setdefault(key, bytearray()).extend(f.payload)
                continue
            if key in self._fragments:
                f.payload = bytes(self._fragments.pop(key) + f.payload)
            self._ready.append(f)

    def _on_event(self, f: RawFrame) -> None:
        if f.type == P.MsgType.LOG:
            try:
                c = P.payload_struct(f.type, False).parse(f.payload)
                self.logs.append((int(c.level), c.time_us, c.text))
            except Exception:  # a garbled log line is not worth failing a session for
                self.stats["bad_events"] += 1

    def _recv(self, seq: int, deadline: float) -> RawFrame | None:
        """The next complete reply to ``seq``; None at the deadline. Other replies are stale."""
        while True:
            while self._ready:
                f = self._ready.popleft()
                if f.seq == seq and f.flags & _RESPONSE:
                    return f
                self.stats["stale_frames"] += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._pump(0)  # one last look: a reply that arrived during a scheduling stall counts
                if not self._ready:
                    return None
                continue
            self._pump(remaining)

    def _check(self, f: RawFrame, what: str):
        """Raise for ERROR and version mismatch; return the parsed payload otherwise."""
        if f.version != P.VERSION:
            raise ProtocolError(f"protocol version mismatch: the board speaks v{f.version}, this hostlink speaks v{P.VERSION}",
                                "update the board firmware (`hostlink flash`) or hostlink so both speak the same version")
        try:
            if f.type == P.MsgType.RESULT:
                return fastcodec.decode_result(f.payload)
            body = P.payload_struct(f.type, True).parse(f.payload)
        except KeyError:
            raise ProtocolError(f"unexpected {_name(f.type)} reply to {what}") from None
        except Exception as exc:
            raise ProtocolError(f"malformed {_name(f.type)} reply to {what}: {exc}") from None
        if f.type == P.MsgType.ERROR:
            code = _code(body.code)
            cls = ModelRefused if code in _MODEL_CODES else DeviceError
            err = cls(code, f"{self._who()} refused {what}: {body.message} [{getattr(code, 'name', code)}]",
                      _hint_for(code))
            err.board_message = str(body.message)
            raise err
        return body

    def _request(self, mtype: int, payload: bytes, what: str, timeout: float,
                 expect: int = P.MsgType.ACK, seq: int | None = None, attempts: int | None = None):
        """Send, await the reply with the same seq, retry on silence or NAK. Returns (frame, body)."""
        seq = self._next_seq() if seq is None else seq
        attempts = attempts or self.timeouts.attempts
        for attempt in range(1, attempts + 1):
            f = self._exchange(mtype, seq, payload, time.monotonic() + timeout, what)
            if f is None:
                continue
            body = self._check(f, what)
            if f.type != expect:
                raise ProtocolError(f"expected {_name(expect)} in reply to {what}, got {_name(f.type)}")
            return f, body
        raise LinkTimeout(
            f"no reply from {self.link.url} to {what} after {attempts} attempts "
            f"({timeout:.1f} s each)",
            "is the board powered and running hostlink firmware? Check the port (`hostlink boards`), the "
            "cable, and that no other program holds the port; a real board may need `hostlink flash`")

    def _exchange(self, mtype: int, seq: int, payload: bytes, deadline: float, what: str) -> RawFrame | None:
        """One send and the reply with its seq; None when the request should be repeated (silence
        past ``deadline``, or a NAK whose code allows a repeat)."""
        self._send(mtype, seq, payload)
        f = self._recv(seq, deadline)
        if f is None:
            self.stats["timeouts"] += 1
            return None
        if f.type == P.MsgType.NAK:
            self._on_nak(f, what)
            return None
        return f

    def _on_nak(self, f: RawFrame, what: str) -> None:
        """Count a NAK; raise unless its code says the same request may be repeated."""
        body = self._check(f, what)
        self.stats["naks"] += 1
        if _code(body.code) not in P.RETRYABLE:
            raise DeviceError(int(body.code), f"{self._who()} rejected {what}: {body.detail}")

    def _who(self) -> str:
        return self.info.board if self.info else "the board"

    # ------------------------------------------------------------------ timing
    def _byte_rate(self) -> float:
        if self.link.byte_rate:
            return self.link.byte_rate
        if self.info and self.info.link_bps:
            return self.info.link_bps / 10
        return self.timeouts.default_byte_rate

    def _deadline_s(self, work_s: float = 0.0, wire_bytes: int = 0) -> float:
        t = self.timeouts
        return t.base_s + t.margin * (work_s + wire_bytes / self._byte_rate())

    # ------------------------------------------------------------------ API
    def hello(self) -> DeviceInfo:
        self.link.reset_input()
        self._deframer.reset()
        skipped = self._deframer.stats.skipped_bytes
        payload = M.Hello.build(dict(proto_min=P.VERSION, proto_max=P.VERSION, max_payload=HOST_MAX_PAYLOAD))
        try:
            _, c = self._request(P.MsgType.HELLO, payload, "HELLO", self.timeouts.hello_s, expect=P.MsgType.DEVICE_INFO,
                                 attempts=self.timeouts.hello_attempts)
        except DeviceError as err:
            if err.code == P.ErrorCode.BUSY:  # a board (or `hostlink emulate --tcp`) serving another host
                detail = getattr(err, "board_message", "")
                raise LinkError(f"board busy: {detail.removeprefix('busy: ') or 'in use by another host'}",
                                "it serves one host at a time: close the other client (or wait for the "
                                "server's idle timeout) and retry") from None
            raise
        except LinkTimeout:
            junk = self._deframer.stats.skipped_bytes - skipped
            if junk:
                sample = bytes(self._deframer.garbage)
                more = "..." if junk > len(sample) else ""
                raise LinkTimeout(
                    f"{self.link.url} answers but not with hostlink protocol frames: got {junk} bytes of {sample!r}{more}",
                    "is this the right port / baud? A console, a bootloader or another device answers here, or the "
                    "baud rate (--baud) differs from the board's") from None
            raise LinkTimeout(
                f"{self.link.url} is silent: no reply to HELLO within {self.timeouts.hello_s:.1f} s x {self.timeouts.hello_attempts}",
                "is this the board's protocol port (not a console or a bootloader)? Is hostlink firmware flashed "
                "(`hostlink flash`)? For a serial board, is the baud rate right (--baud)?") from None
        self.info = DeviceInfo(
            board=str(c.board).lower(), board_name=c.board_name, serial=c.serial,
            fw_version=".".join(str(v) for v in c.fw_version), proto_version=c.proto_version,
            capabilities=_flags(c.capabilities), max_payload=c.max_payload, clock_hz=c.clock_hz,
            link_bps=c.link_bps, formats=tuple(sorted(k.replace("_", "-") for k in _flags(c.formats))),
            memory={m.name: m.size for m in c.memory}, stages=tuple(str(s).lower() for s in c.stages),
        )
        return self.info

    def model_info(self) -> ModelInfo:
        _, c = self._request(P.MsgType.MODEL_INFO, b"", "MODEL_INFO", self._deadline_s(), expect=P.MsgType.MODEL_INFO)
        return self._set_model(c)

    def _set_model(self, c) -> ModelInfo:
        self.model = ModelInfo(
            loaded=bool(c.loaded), name=c.name, format=_format_name(c.format),
            size=c.size, crc32=c.crc32, arena_bytes=c.arena_bytes, macs=c.macs,
            expected_frame_us=c.expected_frame_us, engine=c.engine,
            inputs=tuple(_spec(t) for t in c.inputs), outputs=tuple(_spec(t) for t in c.outputs),
        )
        return self.model

    def upload(self, model: str | Path | bytes, name: str | None = None, fmt: str | None = None,
               progress: Callable[[int, int], None] | None = None, *, policy: UploadPolicy | None = None,
               budget_s: float | None = None, min_chunk: int | None = None) -> ModelInfo:
        """Upload and activate a model. The active model changes only if the whole image verifies.

        Chunks shrink while the link loses frames and grow back when it is clean; retries go on
        while bytes keep being acknowledged, within a time budget (``UploadPolicy``; ``budget_s``
        and ``min_chunk`` override the policy's fields).
        """
        policy = policy or self.upload_policy
        overrides = {k: v for k, v in (("budget_s", budget_s), ("min_chunk", min_chunk)) if v is not None}
        if overrides:
            policy = dataclasses.replace(policy, **overrides)
        path = None
        if not isinstance(model, (str, Path, bytes, bytearray, memoryview)):
            raise TypeError(f"a model is a path or bytes, not {type(model).__name__}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"a model name is a str, not {type(name).__name__}")
        if isinstance(model, (str, Path)):
            path = str(model)
            data = read_model_file(model)
            name = name or Path(model).stem
        else:
            data = bytes(model)
            name = name or "model"
        if fmt is not None:
            by_name = {v: k for k, v in P.FORMAT_NAMES.items()}
            if fmt not in by_name:
                raise ConfigError(f"unknown model format {fmt!r}", f"choose one of {', '.join(by_name)}")
            mfmt = by_name[fmt]
        else:
            mfmt = model_format_for(data, path)
        if mfmt in (P.ModelFormat.TFLITE, P.ModelFormat.EDGETPU_TFLITE):
            from .models.tflite import analyze

            analyze(data, name=path or name)  # a truncated or corrupt file fails here, before any byte is sent
        info = self.info or self.hello()
        fmt_name = P.FORMAT_NAMES[mfmt]
        if fmt_name not in info.formats:
            raise ModelRefused(P.ErrorCode.MODEL_FORMAT_UNSUPPORTED,
                               f"{info.board} does not accept {fmt_name} models (it accepts {', '.join(info.formats)})",
                               _hint_for(P.ErrorCode.MODEL_FORMAT_UNSUPPORTED))
        budget = policy.budget_s or self.timeouts.scale * (
            UPLOAD_BUDGET_BASE_S + UPLOAD_BUDGET_WIRE_FACTOR * len(data) / self._byte_rate())
        give_up_at = time.monotonic() + budget
        crc = zlib.crc32(data) & 0xFFFFFFFF
        begin = M.ModelBegin.build(dict(size=len(data), crc32=crc, format=mfmt.name, name=_wire_name(name)))
        begin_s = self._deadline_s(wire_bytes=len(begin) + _ACK_FRAME_BYTES)
        # retried like a chunk: for as long as a stalled stream would be, not a fixed count
        attempts = max(self.timeouts.attempts, math.ceil(self._stall_s(policy, _CHUNK_HEADER) / begin_s))
        self._request(P.MsgType.MODEL_BEGIN, begin, "MODEL_BEGIN", begin_s, attempts=attempts)
        # struct, not construct: thousands of small chunks on a noisy link (same bytes as M.ModelChunk)
        pack_offset = struct.Struct("<I").pack
        self._stream(P.MsgType.MODEL_CHUNK, data, lambda off, part: pack_offset(off) + part,
                     _CHUNK_HEADER, "MODEL_CHUNK", progress, policy, give_up_at, budget, resplit=True)
        # the commit's reply is the new MODEL_INFO: no second round trip to lose on a noisy link
        return self._commit(name, crc, len(data), give_up_at)

    def _commit(self, name: str, crc: int, size: int, give_up_at: float) -> ModelInfo:
        """MODEL_COMMIT, repeated with the same seq while the board may still be working.

        The board answers a repeat from its reply cache, so a lost MODEL_INFO costs one short
        wait instead of the whole commit deadline; a board still busy answers both, the second
        reply is stale and dropped.
        """
        payload = M.ModelCommit.build(dict(crc32=crc))
        what = f"model {name!r}"
        work = self.timeouts.commit_base_s + self.timeouts.commit_s_per_mb * size / 1e6
        # never give up on a commit sooner than the old fixed schedule would have
        end = max(give_up_at, time.monotonic() + self.timeouts.attempts * self._deadline_s(work_s=work))
        poll = self._deadline_s(wire_bytes=len(payload) + _MODEL_INFO_REPLY_BYTES)
        seq = self._next_seq()
        sends = 0
        while time.monotonic() < end:
            sends += 1
            f = self._exchange(P.MsgType.MODEL_COMMIT, seq, payload, min(end, time.monotonic() + poll), what)
            if f is None:
                continue
            try:
                c = self._check(f, what)
            except DeviceError as err:
                # A repeat that outlived the board's reply cache finds the staging slot already
                # committed; the model is active if its CRC and name say so.
                if sends > 1 and err.code == P.ErrorCode.NO_UPLOAD:
                    m = self.model_info()
                    if m.loaded and m.crc32 == crc and m.name == name[:255]:
                        return m
                raise
            if f.type != P.MsgType.MODEL_INFO:
                raise ProtocolError(f"expected MODEL_INFO in reply to {what}, got {_name(f.type)}")
            return self._set_model(c)
        raise LinkTimeout(f"no reply from {self.link.url} to the commit of {what} after {sends} attempts",
                          "the board may have reset during the commit; check `hostlink info` for the active model")

    def _max_chunk(self, policy: UploadPolicy, header: int) -> int:
        limit = max(1, min(self.info.max_payload if self.info else HOST_MAX_PAYLOAD, HOST_MAX_PAYLOAD) - header)
        return min(limit, policy.max_chunk or limit)

    def _stall_s(self, policy: UploadPolicy, header: int) -> float:
        """How long a stream may go without a new byte acknowledged: ``attempts`` full windows."""
        if policy.stall_s:
            return policy.stall_s
        window = policy.window or self.timeouts.upload_window
        frame = self._max_chunk(policy, header) + header + P.OVERHEAD + _ACK_FRAME_BYTES
        return self.timeouts.attempts * self._deadline_s(wire_bytes=window * frame)

    def _stream(self, mtype: int, data: bytes, build, header: int, what: str,
                progress: Callable[[int, int], None] | None, policy: UploadPolicy, give_up_at: float | None,
                budget: float | None, resplit: bool) -> None:
        """Send ``data`` in chunks with a window of them in flight, until every byte is acknowledged.

        The link keeps bytes in order and the board answers in order, so an acknowledgement of a
        transmission made after another still unanswered means the earlier request or its reply
        was lost: it is resent at once, without waiting for a deadline (only the last chunks in
        flight depend on one). A lost chunk goes out again with the same seq (the board answers
        a repeat from its reply cache) unless ``resplit`` allows cutting it anew at a smaller size.
        Only a run of timeouts with nothing acknowledged in between halves the window: random
        damage is answered by smaller chunks, a board or link that stops answering by fewer frames
        in flight.
        """
        total = len(data)
        hi = self._max_chunk(policy, header)
        sizer = ChunkSizer(policy.min_chunk, hi, header + P.OVERHEAD, adaptive=policy.adaptive)
        base_window = policy.window or self.timeouts.upload_window
        window = MAX_FRAMES_IN_FLIGHT  # lowered by silent timeouts and by a board short of gap slots
        gap_cap = MAX_FRAMES_IN_FLIGHT
        silent_timeouts = 0  # timeouts since the last acknowledgement
        # Round-trip time of this stream's own chunks (RFC 6298's estimator): the last chunks in
        # flight have no later ACK to reveal their loss, and a deadline from the measured round
        # trip finds it in milliseconds where the derived one (base_s + margin x wire) takes 0.5 s.
        srtt: float | None = None
        rttvar = 0.0
        backoff = 1.0
        stall_s = self._stall_s(policy, header)
        # seq -> chunk, least recently transmitted first (every transmission moves it to the end)
        in_flight: collections.OrderedDict[int, _Chunk] = collections.OrderedDict()
        flying = 0  # payload bytes in flight
        holes: list[tuple[int, int]] = []  # byte ranges to send again, sorted
        next_off = 0
        done = 0
        tx_no = 0
        last_progress = time.monotonic()

        def transmit(c: _Chunk) -> None:
            nonlocal tx_no
            tx_no += 1
            c.tx_no = tx_no
            c.sends += 1
            c.sent_at = time.monotonic()
            in_flight.move_to_end(c.seq)
            self._send(mtype, c.seq, c.payload)

        def cut() -> _Chunk | None:
            nonlocal next_off
            if holes:
                off, end = holes[0]
                size = min(sizer.size, end - off)
                if off + size < end:
                    holes[0] = (off + size, end)
                else:
                    holes.pop(0)
            elif next_off < total:
                off = next_off
                size = min(sizer.size, total - off)
                next_off += size
            else:
                return None
            return _Chunk(off, size, self._next_seq(), build(off, data[off:off + size]))

        def requeue(c: _Chunk) -> None:
            nonlocal flying
            del in_flight[c.seq]
            flying -= len(c.payload)
            bisect.insort(holes, (c.off, c.off + c.size))
            self.stats["resplit_chunks"] += 1

        def lost(c: _Chunk) -> None:
            sizer.lost(len(c.payload) + P.OVERHEAD + _ACK_FRAME_BYTES)
            self.stats["retransmits"] += 1
            if resplit and c.size > sizer.size:
                requeue(c)
            else:
                transmit(c)

        def acked(c: _Chunk) -> None:
            nonlocal flying, done, last_progress, silent_timeouts, window, srtt, rttvar, backoff
            if c.sends == 1:  # Karn: a repeated chunk's ACK may answer either send, so it times nothing
                sample = time.monotonic() - c.sent_at
                if srtt is None:
                    srtt, rttvar = sample, sample / 2
                else:
                    rttvar += (abs(srtt - sample) - rttvar) / 4
                    srtt += (sample - srtt) / 8
            backoff = 1.0
            del in_flight[c.seq]
            flying -= len(c.payload)
            sizer.delivered(len(c.payload) + P.OVERHEAD + _ACK_FRAME_BYTES)
            done += c.size
            last_progress = time.monotonic()
            if progress:
                progress(done, total)
            silent_timeouts = 0
            window = min(MAX_FRAMES_IN_FLIGHT, window + 1)

        while True:
            frames = min(window, gap_cap, frames_in_flight(base_window, hi, sizer.size, sizer.loss_per_byte,
                                                           sizer.size + header + P.OVERHEAD + _ACK_FRAME_BYTES))
            while len(in_flight) < frames:
                c = cut()
                if c is None:
                    break
                in_flight[c.seq] = c
                flying += len(c.payload)
                transmit(c)
                self.stats["upload_chunks"] += 1
            if not in_flight:
                self.stats["smallest_chunk"] = sizer.smallest
                return
            now = time.monotonic()
            if give_up_at is not None and now > give_up_at:
                raise LinkTimeout(
                    f"{what}: upload not finished within its {budget:.1f} s budget ({done} of {total} bytes done, "
                    f"{self.stats['retransmits']} chunks resent, chunk size down to {sizer.smallest} B)",
                    "the link is losing data: check the cable; or allow more time (--upload-budget SECONDS)")
            oldest = next(iter(in_flight.values()))
            rto = self._deadline_s(wire_bytes=flying + len(in_flight) * (P.OVERHEAD + _ACK_FRAME_BYTES))
            if srtt is not None:
                rto = min(rto, backoff * max(RTO_FLOOR_S * self.timeouts.scale, srtt + 4 * rttvar))
            deadline = min(oldest.sent_at + rto, last_progress + stall_s + 1e-3)
            if give_up_at is not None:
                deadline = min(deadline, give_up_at + 1e-3)
            f = None
            while f is None:
                while not self._ready:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._pump(remaining)
                if not self._ready:
                    self._pump(0)  # one last look, as in _recv
                    if not self._ready:
                        break
                cand = self._ready.popleft()
                if cand.seq in in_flight and cand.flags & _RESPONSE:
                    f = cand
                else:
                    self.stats["stale_frames"] += 1
            if f is None:
                # judged only after a wait came back empty: a host that was descheduled for a
                # while must read the replies waiting for it before calling the link stalled
                if time.monotonic() - last_progress > stall_s:
                    raise LinkTimeout(
                        f"{what}: no new byte acknowledged for {stall_s:.1f} s ({done} of {total} bytes done, "
                        f"{self.stats['retransmits']} chunks resent, chunk size down to {sizer.smallest} B)",
                        "the link is losing data: check the cable, lower the baud rate, avoid USB hubs")
                if time.monotonic() >= oldest.sent_at + rto:
                    self.stats["timeouts"] += 1
                    silent_timeouts += 1
                    backoff = min(backoff * 2, 64.0)
                    if silent_timeouts >= 2:
                        window = max(1, min(window, len(in_flight)) // 2)
                    lost(oldest)
                continue
            c = in_flight[f.seq]
            answered = c.tx_no
            if f.type == P.MsgType.NAK:
                self._on_nak(f, what)  # raises unless the code says the same request may be repeated
                lost(c)
            elif f.type != _ACK or f.version != P.VERSION:  # an ACK's value is not needed: no parse
                try:
                    self._check(f, what)  # raises on ERROR
                except DeviceError as err:
                    # A chunk inside the image refused as out of range: the board cannot track
                    # one more gap in what it has staged ("send them in order"). Fewer in flight,
                    # and the range cut anew under a new seq (the refusal sits in the board's
                    # reply cache under the old one).
                    if not resplit or err.code != P.ErrorCode.CHUNK_OUT_OF_RANGE or c.off + c.size > total \
                            or gap_cap <= 1:
                        raise
                    gap_cap = max(1, len(in_flight) // 2)
                    self.stats["gap_refusals"] += 1
                    requeue(c)
                else:
                    acked(c)
            else:
                acked(c)
            # everything transmitted before the transmission this reply answers was lost
            behind = []
            for o in in_flight.values():
                if o.tx_no > answered:
                    break
                behind.append(o)
            for o in behind:
                lost(o)

    def send_input(self, tensor: np.ndarray, index: int = 0) -> None:
        """Stage a host-supplied input tensor (raw, already in the tensor's dtype)."""
        model = self.model or self.model_info()
        if not model.loaded:
            raise DeviceError(P.ErrorCode.NO_MODEL, "no model is loaded on the board", "upload one first: hostlink upload MODEL")
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"an input index is an int, not {type(index).__name__}")
        if not 0 <= index < len(model.inputs):
            raise ConfigError(f"the model has {len(model.inputs)} input(s); there is no input {index}")
        from .inputs import prepare_input  # shape exact, no silent wrap, NaN refused (rules there)

        data = prepare_input(model.inputs[index], tensor).tobytes()
        input_struct = P.payload_struct(P.MsgType.INPUT, False)
        # Pieces of an input are repeated with their own seq, never cut anew: the board starts a
        # fresh input when offset 0 arrives after a complete one, and only a reply-cache hit is
        # sure not to.
        self._stream(P.MsgType.INPUT, data,
                     lambda off, part: input_struct.build(dict(index=index, total=len(data), offset=off, data=part)),
                     _INPUT_HEADER, "INPUT", None, dataclasses.replace(self.upload_policy, adaptive=False), None, None,
                     resplit=False)

    def capture(self, count: int = 1, period_us: int = 0, input: np.ndarray | None = None,
                return_input: bool = False,
                progress: Callable[[int, int], None] | None = None) -> list[CaptureResult]:
        """Run ``count`` frames: from the board's sensor, or once on ``input`` if given."""
        _check_count("count", count, 1)
        _check_count("period_us", period_us, 0)
        model = self.model or self.model_info()
        source = P.InputSource.SENSOR
        if input is not None:
            self.send_input(input)
            source = P.InputSource.HOST
        payload = _capture_payload(count, period_us, source, return_input)
        out_bytes = _output_bytes(model) + 64
        frame_s = max(model.expected_frame_us, 1) / 1e6
        per_frame = self._deadline_s(work_s=frame_s + period_us / 1e6, wire_bytes=out_bytes)
        seq = self._next_seq()
        f, c = self._request(P.MsgType.CAPTURE, payload, "CAPTURE", per_frame, expect=P.MsgType.RESULT, seq=seq)
        results = [self._result(c)]
        while len(results) < count:
            f = self._recv(seq, time.monotonic() + per_frame)
            if f is None:
                err = LinkTimeout(f"{self._who()} stopped after {len(results)} of {count} frames",
                                  "the board may have reset or been unplugged; frames received so far are in .partial")
                err.partial = results
                raise err
            results.append(self._result(self._check(f, "CAPTURE")))
            if progress:
                progress(len(results), count)
        return results

    def _result(self, decoded) -> CaptureResult:
        frame, count, stage_list, outputs = decoded
        scale = 1e6 / ((self.info.clock_hz if self.info else 0) or 1_000_000)
        stages = {name: StageTiming(a * scale, b * scale) for name, a, b in stage_list}
        specs = [TensorSpec(n, dt, shape, scale_, zp) for n, dt, shape, scale_, zp, _ in outputs]
        return CaptureResult(frame=frame, count=count, stages=stages, outputs=[o[5] for o in outputs], output_specs=specs)

    def reset(self) -> None:
        self._request(P.MsgType.RESET, M.Reset.build(dict(mode="SOFT")), "RESET", self._deadline_s())


@functools.lru_cache(maxsize=64)
def _capture_payload(count: int, period_us: int, source: P.InputSource, return_input: bool) -> bytes:
    return M.Capture.build(dict(count=count, period_us=period_us, source=source.name,
                                options=dict(return_input=return_input)))


@functools.lru_cache(maxsize=16)
def _output_bytes(model: ModelInfo) -> int:
    return sum(s.nbytes for s in model.outputs)


def _check_count(what: str, value, minimum: int) -> None:
    """A frame count or period: an int (TypeError otherwise) that fits the wire's 32-bit field."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} is an int, not {type(value).__name__}")
    if not minimum <= value <= 0xFFFFFFFF:
        raise ConfigError(f"capture {what} must be at least {minimum} and at most {0xFFFFFFFF}, not {value}")


def _wire_name(name: str) -> str:
    """The model name as it fits the protocol's 255-byte UTF-8 field (cut at a character boundary)."""
    return name.encode("utf-8", "replace")[:255].decode("utf-8", "ignore") or "model"


def _code(value) -> "P.ErrorCode | int":
    """A board's error code; a code newer than this hostlink stays a plain number."""
    try:
        return P.ErrorCode(int(value))
    except ValueError:
        return int(value)


def _format_name(value) -> str:
    """A ModelFormat as spelled on the CLI; a format newer than this hostlink shows its number."""
    try:
        return P.FORMAT_NAMES[P.ModelFormat[str(value)]]
    except KeyError:
        return f"format-{int(value)}"


def _name(mtype: int) -> str:
    try:
        return P.MsgType(mtype).name
    except ValueError:
        return f"type 0x{mtype:02x}"


def _hint_for(code: P.ErrorCode) -> str | None:
    return {
        P.ErrorCode.MODEL_NOT_INT8: "quantize it to full INT8 (see docs/models.md; tools/models/build.py does it)",
        P.ErrorCode.MODEL_OP_UNSUPPORTED: "replace the op, or pick a board that runs it (`hostlink inspect MODEL` lists verdicts)",
        P.ErrorCode.MODEL_ARENA_TOO_LARGE: "use a smaller input or fewer channels, or a board with more RAM (`hostlink inspect MODEL`)",
        P.ErrorCode.MODEL_TOO_LARGE: "the model store is too small: shrink the model or choose another board",
        P.ErrorCode.MODEL_FORMAT_UNSUPPORTED: "convert it for this board (`hostlink convert --board ...`)",
        P.ErrorCode.MODEL_CORRUPT: "the file is not a valid model; re-export it",
        P.ErrorCode.NO_MODEL: "upload a model first: hostlink upload MODEL",
    }.get(code)
