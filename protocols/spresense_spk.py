"""The Spresense ``.spk`` package: what Sony's ``mkspk -c <core> <elf> <savename> <out>`` writes
and the CXD5602 ROM updater's ``install`` command takes over XMODEM.

Layout (little-endian)::

    header      32 bytes   magic EF 'M' 'O' 'D', cpu (= core), 11 reserved, entry, stack
                           (the ELF symbol __stack, 0 if absent), core, binaries,
                           phoffs (= 32 + align16(len(savename) + 1)), mode (0777)
    savename    NUL-padded to a 16-byte multiple, at most 63 characters
    programs    binaries x {load_address (p_paddr), offset, size (align16(p_filesz)), memsize}
    segments    each PT_LOAD segment with file bytes, zero-padded to 16
    cmac        16 bytes: CLEFIA-CMAC over everything above, with a fixed key
    footer      "MKSPK_BN_HOOTER\\0"

The CMAC is checked on parse (construct ``Checksum``): a flipped bit anywhere fails loudly.
"""
from construct import (
    Array,
    Bytes,
    Checksum,
    Const,
    Default,
    Int8ul,
    Int16ul,
    Int32ul,
    PaddedString,
    Padding,
    RawCopy,
    Rebuild,
    Struct,
    len_,
    this,
)

from .clefia import clefia_cmac

MAGIC = b"\xefMOD"
FOOTER = b"MKSPK_BN_HOOTER\x00"
#: The fixed key mkspk seals every package with ("vmk" in tools/cxd56/mkspk.c).
VMK = bytes.fromhex("27c0af1b5dcbc6c558221cddaff32021")
MAX_SAVENAME = 63
MAIN_CORE = 2  # `mkspk -c 2`: the main application core (NuttX)


def align16(n: int) -> int:
    return (n + 15) & ~15


def spk_cmac(data: bytes) -> bytes:
    return clefia_cmac(VMK, data)


ProgramInfo = Struct(
    "load_address" / Int32ul,
    "offset" / Int32ul,
    "size" / Int32ul,
    "memsize" / Int32ul,
)

SpkImage = Struct(
    "magic" / Const(MAGIC),
    "cpu" / Int8ul,
    Padding(11),
    "entry" / Int32ul,
    "stack" / Int32ul,
    "core" / Int16ul,
    "binaries" / Rebuild(Int16ul, len_(this.programs)),
    "phoffs" / Rebuild(Int16ul, lambda ctx: 32 + align16(len(ctx.savename.encode("ascii")) + 1)),
    "mode" / Default(Int16ul, 0o777),
    "savename" / PaddedString(this.phoffs - 32, "ascii"),
    "programs" / Array(this.binaries, ProgramInfo),
    "segments" / Bytes(lambda ctx: sum(p.size for p in ctx.programs)),
)

Spk = Struct(
    "image" / RawCopy(SpkImage),
    "cmac" / Checksum(Bytes(16), spk_cmac, this.image.data),
    "footer" / Const(FOOTER),
)


def build_spk(*, core: int, savename: str, entry: int, stack: int,
              segments: list[tuple[int, bytes, int]]) -> bytes:
    """Seal a package. ``segments``: (load_address, file bytes, memsize) per PT_LOAD segment."""
    if not savename or len(savename) > MAX_SAVENAME or not savename.isascii():
        raise ValueError(f"savename must be 1..{MAX_SAVENAME} ASCII characters, got {savename!r}")
    phoffs = 32 + align16(len(savename) + 1)
    offset = phoffs + 16 * len(segments)
    programs, blob = [], bytearray()
    for load_address, data, memsize in segments:
        size = align16(len(data))
        programs.append({"load_address": load_address, "offset": offset, "size": size, "memsize": memsize})
        blob += data + bytes(size - len(data))
        offset += size
    image = {"cpu": core, "entry": entry, "stack": stack, "core": core, "savename": savename,
             "programs": programs, "segments": bytes(blob)}
    return Spk.build({"image": {"value": image}})


def parse_spk(data: bytes):
    """Parse and verify a package: CMAC, footer and the contiguity of the program table."""
    spk = Spk.parse(data)
    img = spk.image.value
    expect = img.phoffs + 16 * img.binaries
    for p in img.programs:
        if p.offset != expect:
            raise ValueError(f"program at 0x{p.load_address:08x} has offset {p.offset}, expected {expect}")
        expect += p.size
    return img


def spk_size(data: bytes) -> int:
    """Length of the package at the start of ``data`` (XMODEM pads the tail with 0x1A)."""
    head = SpkImage.parse(data)
    return head.phoffs + 16 * head.binaries + sum(p.size for p in head.programs) + 16 + len(FOOTER)
