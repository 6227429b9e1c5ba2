"""A Coral Dev Board Micro that exists only as USB traffic, for the flashing tests.

It implements the boot chain's state machines at the report level:

* app: a CDC-ACM port; opening it at 1200 baud reboots into the ROM (cdc_acm.cc).
* ROM serial downloader (1fc9:013d) and flashloader (15a2:0073): MCUboot over HID reports
  (report IDs 1 command out, 2 data out, 3 command in, 4 data in), answering get-property,
  write-memory, read-memory, receive-sb-file (the SB 1.x file is parsed and executed against a
  model of the SPI NAND) and call; the ROM's load-image reads the IVT and boot data and jumps.
* elf_loader (18d1:9307): the HID file protocol, with a dict for littlefs; it boots
  /default.elf on RESET_TO_FLASH only if the NAND holds a bootable elf_loader.

Faults are switched on by name in ``faults``; ``pyusb_find``, ``comports``, ``serial_class`` and
``hid_device`` are what tests patch into pyusb, pyserial and hidapi.
"""
import struct
from types import SimpleNamespace

import serial

from hostlink.protocols import coralmicro_elfloader as elp

ROM, FLASHLOADER, ELFLOADER, APP, GONE = "rom", "flashloader", "elf_loader", "app", "gone"
IDS = {ROM: (0x1FC9, 0x013D), FLASHLOADER: (0x15A2, 0x0073), ELFLOADER: (0x18D1, 0x9307), APP: (0x18D1, 0x9308)}
MAX_PACKET = 1016
STATUS_OK, STATUS_FAIL, STATUS_UNKNOWN_CMD = 0, 1, 10000
SPI_NAND = 0x101


class FakeCoral:
    def __init__(self, serial_number="1D2E3F40", mode=APP, tty="/dev/ttyACM7", flag_address=None):
        self.serial_number = serial_number
        self.flag_address = flag_address  # where elf_loader keeps disable_usb_timeout
        self.mode = mode
        self.tty = tty
        self.ram: dict[int, int] = {}  # byte address -> value (sparse)
        self.nand: dict[int, bytes] = {}  # block -> bytes
        self.nand_enabled = False
        self.fs: dict[str, bytes] = {}
        self.faults: set[str] = set()
        self.log: list[str] = []
        self.ignored_1200 = False
        self._generation = 0  # bumps on every re-enumeration; stale handles then fail
        self._elf_entry: int | None = None
        self.usb_timeout_disabled = False
        self.files_bytes_written = 0

    # -- enumeration ---------------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        self.log.append(f"{self.mode} -> {mode}")
        self.mode = mode
        self._generation += 1

    def _serial_for_mode(self):
        return self.serial_number if self.mode in (APP, ELFLOADER) else None

    def pyusb_find(self, find_all=True, backend=None, **kwargs):
        if self.mode == GONE:
            return iter([])
        vid, pid = IDS[self.mode]
        dev = SimpleNamespace(idVendor=vid, idProduct=pid, serial_number=self._serial_for_mode(),
                              product="Coral", bus=1, address=4 + self._generation)
        return iter([dev])

    def comports(self, *args, **kwargs):
        if self.mode != APP:
            return []
        vid, pid = IDS[APP]
        return [SimpleNamespace(device=self.tty, vid=vid, pid=pid, serial_number=self.serial_number,
                                description="Coral Dev Board Micro", product="Coral Dev Board Micro")]

    # -- pyserial ------------------------------------------------------------------------------

    def serial_class(self, *args, **kwargs):
        board = self

        class FakeCdc:
            def __init__(self):
                self.port, self.baudrate, self.dtr, self.is_open = None, 9600, True, False

            def open(self):
                if board.mode != APP or self.port != board.tty:
                    raise serial.SerialException(2, f"could not open port {self.port}: No such file or directory")
                if "cdc_permission" in board.faults:
                    board.faults.discard("cdc_permission")
                    raise serial.SerialException(13, f"could not open port {self.port}: [Errno 13] Permission denied")
                self.is_open = True
                board.log.append(f"cdc open at {self.baudrate}")
                if self.baudrate == 1200:
                    if "ignore_1200" in board.faults:
                        board.ignored_1200 = True
                    else:
                        board.set_mode(ROM)

            def write(self, data):
                if board.mode != APP:
                    raise serial.SerialException("write failed: [Errno 5] Input/output error")
                return len(data)

            def close(self):
                self.is_open = False

        return FakeCdc()

    # -- hidapi --------------------------------------------------------------------------------

    def hid_device(self, *args, **kwargs):
        return _FakeHid(self)

    # -- memory --------------------------------------------------------------------------------

    def ram_write(self, address: int, data: bytes) -> None:
        for i, b in enumerate(data):
            self.ram[address + i] = b
        if "corrupt_ram" in self.faults and len(data) > 8:
            self.ram[address + 5] ^= 0xFF

    def ram_read(self, address: int, n: int) -> bytes:
        return bytes(self.ram.get(address + i, 0) for i in range(n))

    def nand_bootable(self) -> bool:
        return any(len(img) > 0x420 and img[0x400] == 0xD1 for b, img in self.nand.items() if b in (4, 8))


class _FakeHid:
    """One hidapi handle. It belongs to the enumeration it was opened on."""

    def __init__(self, board: FakeCoral):
        self.b = board
        self.gen = None
        self.inq: list[bytes] = []
        self.mb_phase = None  # (kind, expected, buffer, params)
        self.load_image = bytearray()
        self.el_target = None
        self.el_size = 0
        self.el_buf = bytearray()
        self.el_path = None

    def open(self, vid=0, pid=0, serial_number=None):
        b = self.b
        if b.mode == GONE or IDS.get(b.mode) != (vid, pid) or b.mode == APP:
            raise OSError("open failed")
        if serial_number and serial_number != b._serial_for_mode():
            raise OSError("open failed")
        self.gen = b._generation

    def _alive(self) -> bool:
        return self.gen is not None and self.gen == self.b._generation

    def close(self):
        self.gen = None

    def write(self, data):
        data = bytes(data)
        if not self._alive():
            return -1
        if self.b.mode in (ROM, FLASHLOADER):
            self._mboot_out(data)
        elif self.b.mode == ELFLOADER:
            self._elfloader_out(data)
        return len(data)

    def read(self, size, timeout_ms=0):
        if not self._alive():
            raise OSError("read error")
        if self.inq:
            return list(self.inq.pop(0)[:size])
        return []

    # -- MCUboot ---------------------------------------------------------------------------------

    def _frame(self, report_id: int, payload: bytes) -> None:
        self.inq.append(struct.pack("<BBH", report_id, 0, len(payload)) + payload)

    def _respond(self, tag: int, *params: int) -> None:
        self._frame(3, struct.pack("<4B", tag, 0, 0, len(params)) + struct.pack(f"<{len(params)}I", *params))

    def _generic(self, status: int, cmd: int) -> None:
        self._respond(0xA0, status, cmd)

    def _mboot_out(self, data: bytes) -> None:
        report_id, _, length = struct.unpack_from("<BBH", data)
        payload = data[4:4 + length]
        if report_id == 1:
            tag, _, _, count = struct.unpack_from("<4B", payload)
            params = struct.unpack_from(f"<{count}I", payload, 4)
            self._command(tag, params)
        elif report_id == 2:
            self._data_out(payload)

    def _command(self, tag: int, params) -> None:
        b = self.b
        b.log.append(f"mboot {b.mode} cmd 0x{tag:02x} {[hex(p) for p in params]}")
        if tag == 0x07:  # get-property
            prop = params[0]
            if prop == 0x0B:
                self._respond(0xA7, STATUS_OK, MAX_PACKET)
            elif prop == 0x01:
                self._respond(0xA7, STATUS_OK, 0x4B020800)
            else:
                self._respond(0xA7, 10300)  # unknown property
        elif tag == 0x04:  # write-memory
            self._generic(STATUS_OK, tag)
            self.mb_phase = ("write", params[1], bytearray(), params)
        elif tag == 0x03:  # read-memory
            address, n = params[0], params[1]
            self._respond(0xA3, STATUS_OK, n)
            content = b.ram_read(address, n)
            for i in range(0, n, MAX_PACKET):
                self._frame(4, content[i:i + MAX_PACKET])
            self._generic(STATUS_OK, tag)
        elif tag == 0x08 and b.mode == FLASHLOADER:  # receive-sb-file
            self._generic(STATUS_OK, tag)
            self.mb_phase = ("sb", params[0], bytearray(), params)
        elif tag == 0x0A and b.mode == FLASHLOADER:  # call
            self._call(params[0])
        else:
            self._generic(STATUS_UNKNOWN_CMD, tag)

    def _data_out(self, payload: bytes) -> None:
        b = self.b
        if self.mb_phase is None:
            if b.mode == ROM:
                self._load_image_data(payload)
            return
        kind, expected, buf, params = self.mb_phase
        buf += payload
        if len(buf) < expected:
            return
        self.mb_phase = None
        if kind == "write":
            b.ram_write(params[0], bytes(buf[:expected]))
            self._generic(STATUS_OK, 0x04)
        else:
            self._generic(self._run_sb(bytes(buf[:expected])), 0x08)

    def _load_image_data(self, payload: bytes) -> None:
        b = self.b
        self.load_image += payload
        img = self.load_image
        if len(img) < 44:
            return
        tag, length, version = img[0], struct.unpack_from(">H", img, 1)[0], img[3]
        entry, _, _, bdt_addr, ivt_addr = struct.unpack_from("<5I", img, 4)
        if tag != 0xD1 or length != 32 or version not in (0x40, 0x41):
            b.log.append("ROM: load-image without a valid IVT, ignored")
            self.load_image = bytearray()
            return
        start, app_len = struct.unpack_from("<II", img, bdt_addr - ivt_addr + 0)
        if len(img) < app_len:
            return
        if "rom_ignores_image" in b.faults:
            b.log.append("ROM: image ignored (fault)")
            return
        if not start <= entry < start + app_len:
            b.log.append("ROM: entry outside the image, stays in ROM")
            return
        b.ram_write(start, bytes(img[:app_len]))
        b.set_mode(FLASHLOADER)

    def _run_sb(self, data: bytes) -> int:
        from spsdk.sbfile.sb1.images import SecureBootV1
        from spsdk.sbfile.sb2.commands import CmdErase, CmdFill, CmdLoad, CmdMemEnable

        b = self.b
        if "sb_refused" in b.faults:
            return STATUS_FAIL
        try:
            sb = SecureBootV1.parse(data)
        except Exception:
            return 10101  # kStatusRomLdrSignature: not an SB file
        erased = set()
        for section in sb.sections:
            for cmd in section.commands:
                if isinstance(cmd, CmdFill):
                    # the SB header carries the pattern as a word; the ROM stores it little-endian
                    word = int.from_bytes(bytes(cmd.pattern), "big")
                    b.ram_write(cmd.address, struct.pack("<I", word) * (max(4, cmd._header.count) // 4))
                elif isinstance(cmd, CmdMemEnable):
                    if cmd.mem_id != SPI_NAND or b.ram_read(cmd.address, 4) != struct.pack("<I", 0xC2000105):
                        return STATUS_FAIL
                    b.nand_enabled = True
                elif isinstance(cmd, CmdErase):
                    if not b.nand_enabled:
                        return STATUS_FAIL
                    for blk in range(cmd.address, cmd.address + cmd.length):
                        b.nand.pop(blk, None)
                        erased.add(blk)
                elif isinstance(cmd, CmdLoad):
                    if not b.nand_enabled or cmd.address not in erased:
                        return STATUS_FAIL  # NAND pages must be erased before programming
                    b.nand[cmd.address] = bytes(cmd.data)
        return STATUS_OK

    def _call(self, address: int) -> None:
        b = self.b
        if b.ram_read(address & ~1, 4) == bytes(4):
            self._generic(STATUS_FAIL, 0x0A)
            return
        b.usb_timeout_disabled = b.flag_address is not None and b.ram_read(b.flag_address, 4) == b"\xff" * 4
        # elf_loader starts: the flashloader leaves the bus without answering
        if not b.usb_timeout_disabled and "/default.elf" in b.fs and b.nand_bootable():
            b.set_mode(APP)
        else:
            b.set_mode(ELFLOADER)

    # -- elf_loader ------------------------------------------------------------------------------

    def _elfloader_out(self, data: bytes) -> None:
        b = self.b
        r = elp.parse_report(data)
        cmd = int(r.command)
        ack = True
        if cmd == elp.Command.TARGET:
            self.el_target = int(r.body.target)
        elif cmd == elp.Command.SETSIZE:
            self.el_size = r.body.size
            self.el_buf = bytearray(self.el_size)
        elif cmd == elp.Command.BYTES:
            self.el_buf[r.body.offset:r.body.offset + r.body.length] = r.body.data
            if self.el_target == elp.Target.FILESYSTEM:
                b.files_bytes_written += r.body.length
                if "vanish_during_files" in b.faults and b.files_bytes_written > 200:
                    b.set_mode(GONE)
                    return
        elif cmd == elp.Command.DONE:
            self._done()
        elif cmd == elp.Command.FORMAT:
            b.fs.clear()
        elif cmd == elp.Command.RESET_TO_BOOTLOADER:
            b.set_mode(ROM)
            return
        elif cmd == elp.Command.RESET_TO_FLASH:
            b.set_mode(APP if b.nand_bootable() and "/default.elf" in b.fs else ROM)
            return
        if "elfloader_silent" in b.faults:
            ack = False
        if ack:
            self.inq.append(b"\x01")

    def _done(self) -> None:
        b = self.b
        if self.el_target == elp.Target.PATH:
            self.el_path = bytes(self.el_buf).split(b"\0")[0].decode()
            b.fs[self.el_path] = b""
        elif self.el_target == elp.Target.FILESYSTEM:
            b.fs[self.el_path] = bytes(self.el_buf)
        elif self.el_target == elp.Target.RAM:
            b.ram_image = bytes(self.el_buf)
            if bytes(self.el_buf[:4]) == b"\x7fELF":
                b.set_mode(APP)

