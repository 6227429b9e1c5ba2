"""firmware/core/src/hl_store.c's slot layout, read independently of the C code, and the Linux
port's power-cut tear (firmware/ports/host/port_host.c), for the model-store tests."""
import struct
import zlib
from pathlib import Path

STORE_MAGIC = 0x534D4C48  # "HLMS"
STORE_COMMITTED = 0x4B4F4D43  # the commit word, written last
ALIGN = 8  # the Linux port's write_align: every record starts on a multiple of it
HEADER_MAX = 24 + 255 + 4  # fixed fields, longest name, header CRC


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


COMMIT_OFFSET = _align(HEADER_MAX)
IMAGE_OFFSET = COMMIT_OFFSET + _align(4)


def committed_slots(store: Path) -> list[dict]:
    """Every slot of store.bin that boot may restore: header CRC, commit word and image CRC all good."""
    size = store.stat().st_size
    slot_bytes = size // 2
    found = []
    with open(store, "rb") as fh:
        for i in (0, 1):
            fh.seek(i * slot_bytes)
            head = fh.read(IMAGE_OFFSET)
            magic, version, hlen, seq, n, crc, fmt, name_len = struct.unpack_from("<IHHIIIBB", head, 0)
            if magic != STORE_MAGIC or version != 1 or hlen != 24 + name_len + 4:
                continue
            if int.from_bytes(head[COMMIT_OFFSET:COMMIT_OFFSET + 4], "little") != STORE_COMMITTED:
                continue
            if zlib.crc32(head[:hlen - 4]) != int.from_bytes(head[hlen - 4:hlen], "little"):
                continue
            if n > slot_bytes - IMAGE_OFFSET:
                continue
            image = fh.read(n)
            if zlib.crc32(image) != crc:
                continue
            found.append(dict(slot=i, seq=seq, name=head[24:24 + name_len].decode(), crc32=crc, image=image,
                              format=fmt))
    return found


def tear_keep(seed: int, n: int) -> int:
    """How many of n bytes the port lets land when it cuts a write with HL_POWERCUT_SEED=seed
    (port_host.c: one step of its LCG, then modulo n + 1)."""
    return (((seed * 1664525 + 1013904223) & 0xFFFFFFFF) >> 8) % (n + 1)


