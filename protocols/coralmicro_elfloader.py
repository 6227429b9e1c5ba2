"""The Coral Dev Board Micro ``elf_loader`` USB-HID file protocol (host -> board reports).

The board enumerates as 18d1:9307 (legacy 18d1:93fe) with a vendor HID interface (usage page
0x81) of 64-byte IN and OUT interrupt reports. Each host report starts with report ID 0 (hidapi
sends that byte to select the report; the board sees the 64 bytes after it). Fields are
little-endian, sizes as the reference flashtool packs them with ``struct`` '=' formats::

    SETSIZE (0)              i32 total size of the transfer
    BYTES (1)                i32 length, i32 offset, data[length]   (length <= 55)
    DONE (2)                 -
    RESET_TO_BOOTLOADER (3)  -   reboot into the ROM serial downloader
    TARGET (4)               u8 target: RAM 0, PATH 1, FILESYSTEM 2
    RESET_TO_FLASH (5)       -   reboot and boot /default.elf from NAND
    FORMAT (6)               -   erase the littlefs filesystem

A transfer is TARGET, SETSIZE, BYTES x n, DONE. A PATH transfer names the file that the following
FILESYSTEM transfer writes; a RAM transfer is an ELF the board runs at once. After every OUT report
the board sends one 1-byte IN report.
"""
import enum

from construct import Bytes, Const, Enum, Int8ul, Int32sl, Pass, Rebuild, Struct, Switch, len_, this


class Command(enum.IntEnum):
    SETSIZE = 0
    BYTES = 1
    DONE = 2
    RESET_TO_BOOTLOADER = 3
    TARGET = 4
    RESET_TO_FLASH = 5
    FORMAT = 6


class Target(enum.IntEnum):
    RAM = 0
    PATH = 1
    FILESYSTEM = 2


REPORT_ID = 0
REPORT_SIZE = 64  # bytes after the report ID
#: Data bytes per BYTES report: the 64-byte report less cmd, length and offset (1 + 4 + 4).
MAX_CHUNK = REPORT_SIZE - 9
ACK_SIZE = 1

SetSize = Struct("size" / Int32sl)
BytesPayload = Struct(
    "length" / Rebuild(Int32sl, len_(this.data)),
    "offset" / Int32sl,
    "data" / Bytes(this.length),
)
TargetPayload = Struct("target" / Enum(Int8ul, Target))

#: One OUT report as hidapi writes it (report ID first).
Report = Struct(
    "report_id" / Const(REPORT_ID, Int8ul),
    "command" / Enum(Int8ul, Command),
    "body" / Switch(
        this.command,
        {
            Command.SETSIZE.name: SetSize,
            Command.BYTES.name: BytesPayload,
            Command.TARGET.name: TargetPayload,
        },
        default=Pass,
    ),
)

assert Report.build({"command": "BYTES", "body": {"offset": 0, "data": bytes(MAX_CHUNK)}}).__len__() == REPORT_SIZE + 1


def build_report(command: Command, **body) -> bytes:
    return Report.build({"command": command.name, "body": body or None})


def parse_report(data: bytes):
    """Parse one OUT report (with its leading report ID) into a construct Container."""
    return Report.parse(data)


def transfer_reports(target: Target, payload: bytes) -> list[bytes]:
    """The reports of one whole transfer: TARGET, SETSIZE, BYTES x n, DONE."""
    reports = [build_report(Command.TARGET, target=target.name), build_report(Command.SETSIZE, size=len(payload))]
    for offset in range(0, len(payload), MAX_CHUNK):
        reports.append(build_report(Command.BYTES, offset=offset, data=payload[offset:offset + MAX_CHUNK]))
    reports.append(build_report(Command.DONE))
    return reports
