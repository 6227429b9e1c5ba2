"""Files the Coral Micro flash needs, built from the user's coralmicro build outputs.

No NXP command-line tool is needed: spsdk writes the i.MX boot images (IVT + boot data) that
``elftosb -f imx`` would, and the SB 1.x file ``elftosb -f kinetis`` compiles from flashtool's
``.bd`` script; bincopy reads the S-records; pyelftools reads the ELFs.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import MissingBuildOutput
from ..errors import ConfigError

#: The flashloader's boot image (flashtool: startAddress, ivtOffset, initialLoadSize, entry).
FLASHLOADER_START = 0x2024FF00
FLASHLOADER_IVT_OFFSET = 0x0
FLASHLOADER_INITIAL_LOAD = 0x2000
FLASHLOADER_ENTRY = 0x20250000
#: The elf_loader's boot image as it is stored in NAND: IVT at 0x400, 4 KiB initial load.
ELFLOADER_IVT_OFFSET = 0x400
ELFLOADER_INITIAL_LOAD = 0x1000
#: spsdk's memory ID for SPI NAND ("spinand" in the .bd script).
SPI_NAND = 0x101
#: The FlexSPI NAND configuration block the .bd script writes to RAM before ``enable spinand``.
SPINAND_CONFIG = ((0x10000, 0xC2000105), (0x10004, 0x00010020), (0x10008, 0x00040004),
                  (0x1000C, 0x00080004), (0x10020, 0xC0010021))
#: NAND blocks: two redundant boot copies at 4 and 8; littlefs starts at 12 (64 blocks wiped).
BOOT_COPIES = (0x4, 0x8)
BOOT_COPY_BLOCKS = 4
FILESYSTEM_ERASE = (0xC, 0x4C)
#: The elf_loader variable that keeps it waiting on USB instead of booting /default.elf.
DISABLE_USB_TIMEOUT_SYMBOL = "disable_usb_timeout"
DEFAULT_USB_IP = "10.10.10.1"

ENV_BUILD = "CORALMICRO_BUILD"


@dataclass(frozen=True)
class CoralBuild:
    """The three coralmicro build outputs the flash reads (nothing else from the SDK)."""

    flashloader_srec: Path
    elfloader_srec: Path
    elfloader_elf: Path

    @classmethod
    def from_dir(cls, path: str | os.PathLike | None) -> "CoralBuild":
        if path is None:
            path = os.environ.get(ENV_BUILD)
        if not path:
            raise MissingBuildOutput(
                "the Coral flash needs the coralmicro build outputs (flashloader and elf_loader)",
                f"build coralmicro (git clone --recurse-submodules google-coral/coralmicro; bash build.sh) "
                f"and pass --build-dir coralmicro/build or set {ENV_BUILD}")
        root = Path(path).expanduser()
        if (root / "build").is_dir() and not (root / "apps").is_dir():
            root = root / "build"
        build = cls(root / "libs/nxp/flashloader/image.srec", root / "apps/elf_loader/image.srec",
                    root / "apps/elf_loader/elf_loader")
        missing = [p for p in (build.flashloader_srec, build.elfloader_srec, build.elfloader_elf) if not p.is_file()]
        if missing:
            raise MissingBuildOutput(
                f"coralmicro build output missing under {root}: " + ", ".join(str(m.relative_to(root)) for m in missing),
                "run `bash build.sh` (or `make -C build flashloader elf_loader`) in coralmicro, then pass its "
                "build directory with --build-dir")
        return build


def load_srec(path: Path):
    import bincopy

    binfile = bincopy.BinFile()
    try:
        binfile.add_srec_file(str(path))
    except Exception as exc:
        raise MissingBuildOutput(f"{path} is not a readable S-record file: {exc}",
                                 "rebuild coralmicro; the file may be truncated") from None
    if not binfile.segments:
        raise MissingBuildOutput(f"{path} holds no data", "rebuild coralmicro")
    return binfile


def imx_boot_image(binfile, *, start: int, ivt_offset: int, initial_load_size: int, entry: int) -> bytes:
    """An i.MX RT boot image: IVT at ``start + ivt_offset``, boot data after it, then the
    application bytes at their own addresses relative to ``start``."""
    from spsdk.image.hab.segments.seg_bdt import SegBDT
    from spsdk.image.hab.segments.seg_ivt import SegIVT

    ivt_address = start + ivt_offset
    bdt_address = ivt_address + SegIVT.SIZE
    headers_end = ivt_offset + SegIVT.SIZE + 12
    low, high = binfile.minimum_address, binfile.maximum_address
    if low < start or low - start < headers_end:
        raise ConfigError(f"image data at 0x{low:08x} overlaps the IVT/boot data at 0x{ivt_address:08x}",
                          "is this the right S-record file?")
    total = max(high - start, initial_load_size)
    image = bytearray(total)
    ivt = SegIVT(0x41)
    ivt.app_address, ivt.ivt_address, ivt.bdt_address = entry, ivt_address, bdt_address
    image[ivt_offset:ivt_offset + SegIVT.SIZE] = ivt.export()
    image[ivt_offset + SegIVT.SIZE:headers_end] = SegBDT(app_start=start, app_length=total).export()[:12]
    for seg in binfile.segments:
        off = seg.minimum_address - start
        image[off:off + len(seg.data)] = seg.data
    return bytes(image)


def flashloader_image(build: CoralBuild) -> bytes:
    return imx_boot_image(load_srec(build.flashloader_srec), start=FLASHLOADER_START,
                          ivt_offset=FLASHLOADER_IVT_OFFSET, initial_load_size=FLASHLOADER_INITIAL_LOAD,
                          entry=FLASHLOADER_ENTRY)


def elfloader_nand_image(build: CoralBuild) -> bytes:
    srec = load_srec(build.elfloader_srec)
    entry = srec.execution_start_address
    if entry is None:
        raise MissingBuildOutput(f"{build.elfloader_srec} has no start address record", "rebuild coralmicro")
    return imx_boot_image(srec, start=srec.minimum_address & 0xFFFF0000, ivt_offset=ELFLOADER_IVT_OFFSET,
                          initial_load_size=ELFLOADER_INITIAL_LOAD, entry=entry)


def program_sb(boot_image: bytes, *, erase_filesystem: bool, timestamp: datetime | None = None) -> bytes:
    """The SB 1.x file flashtool compiles from its .bd script: configure SPI NAND, erase the two
    boot copies (and optionally the start of littlefs), write the elf_loader image twice."""
    from spsdk.sbfile.sb1.images import SecureBootV1
    from spsdk.sbfile.sb1.sections import BootSectionV1
    from spsdk.sbfile.sb2.commands import CmdErase, CmdFill, CmdLoad, CmdMemEnable

    section = BootSectionV1(0)
    for address, word in SPINAND_CONFIG:
        section.append(CmdFill(address, word, 4))
    section.append(CmdMemEnable(SPINAND_CONFIG[0][0], 4, SPI_NAND))
    for block in BOOT_COPIES:
        section.append(CmdErase(block, BOOT_COPY_BLOCKS, 0, SPI_NAND))
    if erase_filesystem:
        section.append(CmdErase(FILESYSTEM_ERASE[0], FILESYSTEM_ERASE[1] - FILESYSTEM_ERASE[0], 0, SPI_NAND))
    for block in BOOT_COPIES:
        section.append(CmdLoad(block, boot_image, SPI_NAND))
    sb = SecureBootV1(version="1.1", timestamp=timestamp or datetime.now(timezone.utc))
    sb.append(section)
    return sb.export()


# --- ELF ----------------------------------------------------------------------------------------


def _open_elf(data: bytes, name: str):
    import io

    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        return ELFFile(io.BytesIO(data))
    except ELFError as exc:
        raise ConfigError(f"{name} is not an ELF file ({exc})",
                          "pass the application ELF the coralmicro build wrote (build/apps/<app>/<app>)") from None


def stripped_firmware(path: str | os.PathLike) -> bytes:
    """The ELF cut down to what elf_loader reads (header, program headers, PT_LOAD bytes), as
    ``arm-none-eabi-strip`` would leave it: debug sections dropped, section table removed."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    elf = _open_elf(data, str(path))
    if elf.elfclass != 32 or elf["e_machine"] != "EM_ARM":
        raise ConfigError(f"{path} is a {elf.elfclass}-bit {elf['e_machine']} ELF, not 32-bit ARM",
                          "the Coral Micro runs Cortex-M7/M4 code: build with the coralmicro toolchain")
    if elf["e_type"] != "ET_EXEC":
        raise ConfigError(f"{path} is not an executable ELF ({elf['e_type']})", "pass the linked application")
    loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD" and s["p_filesz"] > 0]
    if not loads:
        raise ConfigError(f"{path} has no loadable segment", "pass the linked application")
    end = max(elf["e_phoff"] + elf["e_phnum"] * elf["e_phentsize"],
              *(s["p_offset"] + s["p_filesz"] for s in loads))
    out = bytearray(data[:end])
    fmt = "<" if elf.little_endian else ">"
    struct.pack_into(fmt + "I", out, 0x20, 0)  # e_shoff
    struct.pack_into(fmt + "HHH", out, 0x2E, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
    return bytes(out)


def elf_symbol(path: Path, name: str) -> int:
    elf = _open_elf(Path(path).read_bytes(), str(path))
    symtab = elf.get_section_by_name(".symtab")
    if symtab is not None:
        for sym in symtab.get_symbol_by_name(name) or []:
            return int(sym["st_value"])
    raise MissingBuildOutput(f"{path} has no symbol {name!r}",
                             "pass the unstripped elf_loader ELF from the coralmicro build")


# --- the file manifest --------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestEntry:
    path: str  # on the board's littlefs
    data: bytes
    source: str  # where it came from, for messages


def build_manifest(firmware: bytes, data_files: list[str], usb_ip: str | None = DEFAULT_USB_IP,
                   firmware_name: str = "firmware") -> list[ManifestEntry]:
    """``/default.elf`` first, then each ``--data`` file (``LOCAL`` or ``LOCAL=/board/path``;
    ``*.tflite`` defaults to ``/models/<name>``), then ``/usb_ip_address``."""
    entries = [ManifestEntry("/default.elf", firmware, firmware_name)]
    for spec in data_files:
        local, _, remote = spec.partition("=")
        src = Path(local).expanduser()
        if not remote:
            remote = ("/models/" if src.suffix == ".tflite" else "/") + src.name
        if not remote.startswith("/") or "//" in remote or len(remote) > 255:
            raise ConfigError(f"board path {remote!r} for {local} is not an absolute littlefs path",
                              "write --data FILE or --data FILE=/models/name.tflite")
        try:
            content = src.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read data file {local}: {exc.strerror}") from None
        entries.append(ManifestEntry(remote, content, local))
    if usb_ip:
        entries.append(ManifestEntry("/usb_ip_address", usb_ip.encode("ascii"), "--usb-ip"))
    seen = set()
    for e in entries:
        if e.path in seen:
            raise ConfigError(f"two files would be written to {e.path}", "give one of them another board path")
        seen.add(e.path)
    return entries
