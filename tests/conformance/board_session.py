"""A frame-level host session for the conformance suite: raw frames in and out, nothing hidden."""
import collections
import time
import zlib

from hostlink import protocols as P
from hostlink.framing import Deframer, RawFrame, encode_frame
from hostlink.links import open_link
from hostlink.protocols import messages as M

#: Generous: a commit runs admission (model analysis, arena planning) on the board.
REPLY_TIMEOUT_S = 15.0


class RawBoard:
    """Frames in, frames out, nothing hidden: the host side of the protocol at the byte level.

    Replies are collected per seq; fragments (Flag.MORE) are joined, and ``fragments`` keeps the
    frames as they arrived so tests can check the split itself.
    """

    def __init__(self, url: str):
        self.link = open_link(url)
        self.deframer = Deframer()
        self.replies: dict[int, collections.deque] = collections.defaultdict(collections.deque)
        self.events: list[RawFrame] = []
        self.fragments: list[RawFrame] = []
        self._partial: dict[tuple[int, int], bytearray] = {}
        self._seq = 100

    def next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def send_raw(self, data: bytes) -> None:
        self.link.write(data)

    def send(self, mtype, payload=b"", *, seq=None, flags=0, version=P.VERSION) -> int:
        seq = self.next_seq() if seq is None else seq
        if isinstance(payload, dict):
            payload = P.payload_struct(mtype, False).build(payload)
        self.link.write(encode_frame(mtype, flags, seq, payload, version))
        return seq

    def _pump(self, timeout: float) -> None:
        for f in self.deframer.feed(self.link.read(timeout)):
            if f.flags & P.Flag.EVENT:
                self.events.append(f)
                continue
            self.fragments.append(f)
            key = (f.seq, f.type)
            if f.flags & P.Flag.MORE:
                self._partial.setdefault(key, bytearray()).extend(f.payload)
                continue
            if key in self._partial:
                f = RawFrame(f.type, f.flags, f.seq, bytes(self._partial.pop(key) + f.payload), f.version)
            self.replies[f.seq].append(f)

    def reply(self, seq: int, timeout: float = REPLY_TIMEOUT_S) -> RawFrame:
        deadline = time.monotonic() + timeout
        while not self.replies[seq]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no reply to seq {seq} within {timeout} s")
            self._pump(min(left, 0.2))
        return self.replies[seq].popleft()

    def silence(self, seq: int, timeout: float = 0.3) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._pump(0.05)
            if self.replies[seq]:
                return False
        return True

    def request(self, mtype, payload=b"", **kw):
        """Send and return (reply frame, parsed reply payload)."""
        f = self.reply(self.send(mtype, payload, **kw))
        assert f.flags & P.Flag.RESPONSE, f
        return f, parse(f)

    def hello(self, max_payload: int = 1 << 20):
        f, info = self.request(P.MsgType.HELLO, dict(proto_min=1, proto_max=1, max_payload=max_payload))
        assert f.type == P.MsgType.DEVICE_INFO, describe(f)
        return info

    def close(self) -> None:
        self.link.close()


def parse(f: RawFrame):
    return P.payload_struct(f.type, bool(f.flags & P.Flag.RESPONSE)).parse(f.payload)


def describe(f: RawFrame) -> str:
    try:
        body = parse(f)
    except Exception as exc:  # a description for an assertion message, whatever the frame holds
        body = f"<unparsed: {exc}>"
    return f"{P.MsgType(f.type).name if f.type in P.MsgType._value2member_map_ else f.type} seq={f.seq} {body}"


def error_code(f: RawFrame) -> int:
    assert f.type in (P.MsgType.ERROR, P.MsgType.NAK), describe(f)
    return int(parse(f).code)


def upload(raw: RawBoard, data: bytes, name: str, *, order=None, chunk: int | None = None):
    """BEGIN, every chunk (in ``order`` of chunk indexes if given), COMMIT. Returns the COMMIT reply."""
    info = raw.hello()
    chunk = chunk or min(info.max_payload - 4, 1024)
    pieces = [(off, data[off:off + chunk]) for off in range(0, len(data), chunk)]
    f, _ = raw.request(P.MsgType.MODEL_BEGIN, dict(size=len(data), crc32=zlib.crc32(data), format="TFLITE", name=name))
    assert f.type == P.MsgType.ACK, describe(f)
    for i in (order if order is not None else range(len(pieces))):
        off, part = pieces[i]
        f, _ = raw.request(P.MsgType.MODEL_CHUNK, M.ModelChunk.build(dict(offset=off, data=part)))
        assert f.type == P.MsgType.ACK, describe(f)
    f, _ = raw.request(P.MsgType.MODEL_COMMIT, dict(crc32=zlib.crc32(data)))
    return f


def active_model(raw: RawBoard):
    f, info = raw.request(P.MsgType.MODEL_INFO)
    assert f.type == P.MsgType.MODEL_INFO, describe(f)
    return info
