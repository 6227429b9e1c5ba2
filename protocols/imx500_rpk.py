"""The IMX500 network package ``network.rpk`` (what ``imx500-package`` writes on the Pi).

Layout, as picamera2's ``IMX500.__ni_from_network`` walks it::

    block x n    header: magic b"9464", u32 BE size, 8 flag bytes (flags[6] bit 0: device lock)
                 then size + 44 opaque bytes (firmware payload and the rest of the header area)
                 footer magic b"3695" at offset size + 60 from the block start,
                 then 32 more bytes when the device-lock flag is set
    cpio         a newc ("070701") archive holding network_info.txt (key=value lines) and
                 network_intrinsics (JSON: task, inference_rate, cpu{...}, classes{...})

Everything the host needs before loading (input size, normalisation, task, labels) is in the
archive; the blocks themselves go to the sensor untouched.
"""
import json
from dataclasses import dataclass, field

from construct import Bytes, Const, Int32ub, Struct

BLOCK_MAGIC = b"9464"
FOOTER_MAGIC = b"3695"
BLOCK_HEADER_SIZE = 16
#: Bytes from a block's start to its footer, beyond the block's declared size.
FOOTER_OFFSET = 60
DEVICE_LOCK_EXTRA = 32

BlockHeader = Struct(
    "magic" / Const(BLOCK_MAGIC),
    "size" / Int32ub,
    "flags" / Bytes(8),
)

CPIO_NEWC = b"070701"
CPIO_NEWC_CRC = b"070702"
CPIO_TRAILER = "TRAILER!!!"
_CPIO_FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor", "devminor",
                "rdevmajor", "rdevminor", "namesize", "check")
CpioHeader = Struct(
    "magic" / Bytes(6),
    *[name / Bytes(8) for name in _CPIO_FIELDS],
)


class RpkError(ValueError):
    """A file that is not a well-formed rpk."""


@dataclass
class RpkBlock:
    offset: int
    size: int
    device_lock: bool
    length: int  # bytes the block occupies in the file


@dataclass
class NetworkInfo:
    raw: dict[str, str]

    def _int(self, key: str) -> int | None:
        value = self.raw.get(key)
        return int(value, 0) if value not in (None, "") else None

    @property
    def network_id(self) -> str | None:
        return self.raw.get("networkID")

    @property
    def input_width(self) -> int | None:
        return self._int("inputTensorWidth")

    @property
    def input_height(self) -> int | None:
        return self._int("inputTensorHeight")

    @property
    def input_format(self) -> str | None:
        return self.raw.get("inputTensorFormat")

    @property
    def norm(self) -> dict[str, int]:
        """inputTensorNorm_K00..K23 as integers (the sensor's fixed-point normalisation)."""
        return {k[len("inputTensorNorm_"):]: int(v, 0) for k, v in self.raw.items()
                if k.startswith("inputTensorNorm_K") and v.strip()}


@dataclass
class Rpk:
    blocks: list[RpkBlock]
    cpio_offset: int
    files: dict[str, bytes]
    network_info: NetworkInfo | None = None
    intrinsics: dict = field(default_factory=dict)

    @property
    def task(self) -> str | None:
        return self.intrinsics.get("task")

    @property
    def inference_rate(self) -> float:
        return float(self.intrinsics.get("inference_rate", 30))

    @property
    def labels(self) -> list[str]:
        return list(self.intrinsics.get("classes", {}).get("labels", []))


def _align4(n: int) -> int:
    return (n + 3) & ~3


def parse_cpio(data: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    pos = 0
    size = CpioHeader.sizeof()
    while True:
        if pos + size > len(data):
            raise RpkError(f"cpio archive truncated at byte {pos} (no {CPIO_TRAILER} entry)")
        head = CpioHeader.parse(data[pos:pos + size])
        if head.magic not in (CPIO_NEWC, CPIO_NEWC_CRC):
            raise RpkError(f"not a newc cpio entry at byte {pos}: magic {bytes(head.magic)!r}")
        try:
            namesize, filesize = int(head.namesize, 16), int(head.filesize, 16)
        except ValueError:
            raise RpkError(f"cpio header at byte {pos} has non-hex fields") from None
        name_end = pos + size + namesize
        name = data[pos + size:name_end].rstrip(b"\0").decode("utf-8", "replace")
        body = _align4(name_end)
        if body + filesize > len(data):
            raise RpkError(f"cpio entry {name!r} runs past the end of the file")
        if name == CPIO_TRAILER:
            return files
        files[name] = bytes(data[body:body + filesize])
        pos = _align4(body + filesize)


def build_cpio(files: dict[str, bytes]) -> bytes:
    out = bytearray()
    for ino, (name, content) in enumerate([*files.items(), (CPIO_TRAILER, b"")], start=1):
        encoded = name.encode() + b"\0"
        mode = 0o100644 if name != CPIO_TRAILER else 0
        values = {"magic": CPIO_NEWC, "ino": ino, "mode": mode, "uid": 0, "gid": 0, "nlink": 1, "mtime": 0,
                  "filesize": len(content), "devmajor": 0, "devminor": 0, "rdevmajor": 0, "rdevminor": 0,
                  "namesize": len(encoded), "check": 0}
        out += CpioHeader.build({k: (v if k == "magic" else f"{v:08X}".encode()) for k, v in values.items()})
        out += encoded
        out += bytes(_align4(len(out)) - len(out))
        out += content
        out += bytes(_align4(len(out)) - len(out))
    return bytes(out)


def parse_network_info(text: str) -> NetworkInfo:
    raw = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        raw[key.strip()] = value.strip()
    return NetworkInfo(raw)


def parse_rpk(data: bytes) -> Rpk:
    blocks = []
    pos = 0
    while data[pos:pos + 4] == BLOCK_MAGIC:
        if pos + BLOCK_HEADER_SIZE > len(data):
            raise RpkError(f"block header at byte {pos} is truncated")
        head = BlockHeader.parse(data[pos:pos + BLOCK_HEADER_SIZE])
        footer = pos + head.size + FOOTER_OFFSET
        if data[footer:footer + 4] != FOOTER_MAGIC:
            raise RpkError(f"block at byte {pos} (size {head.size}) has no {FOOTER_MAGIC!r} footer at byte {footer}",)
        lock = bool(head.flags[6] & 1)
        length = head.size + FOOTER_OFFSET + 4 + (DEVICE_LOCK_EXTRA if lock else 0)
        blocks.append(RpkBlock(pos, head.size, lock, length))
        pos += length
    if not blocks:
        raise RpkError("no firmware block (magic b'9464') at the start: not an IMX500 .rpk")
    files = parse_cpio(data[pos:])
    rpk = Rpk(blocks, pos, files)
    if "network_info.txt" in files:
        rpk.network_info = parse_network_info(files["network_info.txt"].decode("utf-8", "replace"))
    if "network_intrinsics" in files:
        try:
            rpk.intrinsics = json.loads(files["network_intrinsics"])
        except json.JSONDecodeError as exc:
            raise RpkError(f"network_intrinsics is not JSON: {exc}") from None
    return rpk


def build_block(payload: bytes, device_lock: bool = False) -> bytes:
    """One firmware block around ``payload`` (used to make test packages)."""
    flags = bytearray(8)
    flags[6] = 1 if device_lock else 0
    head = BlockHeader.build({"size": len(payload), "flags": bytes(flags)})
    body = payload + bytes(FOOTER_OFFSET - BLOCK_HEADER_SIZE)
    return head + body + FOOTER_MAGIC + (bytes(DEVICE_LOCK_EXTRA) if device_lock else b"")


def build_rpk(blocks: list[bytes], network_info: dict[str, str], intrinsics: dict | None = None,
              device_lock: bool = False) -> bytes:
    files = {"network_info.txt": "".join(f"{k}={v}\n" for k, v in network_info.items()).encode()}
    if intrinsics is not None:
        files["network_intrinsics"] = json.dumps(intrinsics).encode()
    return b"".join(build_block(b, device_lock) for b in blocks) + build_cpio(files)
