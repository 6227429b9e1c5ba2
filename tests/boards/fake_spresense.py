"""A Spresense main board behind a fake CP2102N port, for the flashing tests.

It models what the host sees on the UART: DTR pulses reset the CXD5602; during a short boot
window an 'r' drops it into the ROM's nash shell ("Welcome to nash", "updater# " prompt),
otherwise NuttX boots to "nsh> ". The updater runs ``rm``, ``sync``, ``reboot`` and
``install [-b BAUD]``; install is a real XMODEM receiver (SOH/STX blocks, sequence numbers,
CRC-16, ACK/NAK, EOT) that switches its UART to BAUD for the transfer, so bytes the host sends at
the wrong rate arrive as garbage. An installed file must be a valid .spk (CMAC checked) or it is
rejected with an error line. Every read that finds nothing advances the fake clock by the port
timeout, so waits cost no real time.
"""
import binascii

import serial

from hostlink.protocols import spresense_spk as spk

SOH, STX, EOT, ACK, NAK, CAN, CRC = 0x01, 0x02, 0x04, 0x06, 0x15, 0x18, ord("C")
OFF, WINDOW, UPDATER, XWAIT, XRECV, APP = "off", "boot-window", "updater", "xmodem-wait", "xmodem", "app"
PROMPT = b"updater# "


class FakeSpresense:
    def __init__(self, clock, port="/dev/ttyUSB3", boot_window_reads=4):
        self.clock = clock
        self.port_name = port
        self.state = APP
        self.board_baud = 115200
        self.boot_window_reads = boot_window_reads
        self.files: dict[str, bytes] = {"nuttx": b"old"}
        self.faults: set[str] = set()
        self.log: list[str] = []
        self.out: list[list] = []  # [baud, bytearray] segments: bytes keep the rate they were sent at
        self.line = bytearray()
        self.window_left = 0
        self.resets = 0
        self.synced = False
        self.rebooted = False
        self.unplugged = False
        self._rx = bytearray()
        self._seq = 1
        self._file = bytearray()
        self._blocks = 0
        self._install_baud = None

    def serial_class(self, *args, **kwargs):
        return _FakePort(self)

    # -- board behaviour -------------------------------------------------------------------------

    def reset(self):
        self.resets += 1
        self.state = WINDOW
        self.board_baud = 115200
        self.window_left = self.boot_window_reads
        self.out.clear()
        self.log.append("reset")

    def _say(self, text: bytes):
        if self.out and self.out[-1][0] == self.board_baud:
            self.out[-1][1] += text
        else:
            self.out.append([self.board_baud, bytearray(text)])

    def receive(self, data: bytes, host_baud: int):
        if self.unplugged:
            raise serial.SerialException("write failed: [Errno 5] Input/output error")
        if "silent" in self.faults:
            return
        if host_baud != self.board_baud:
            self.log.append(f"garbled {len(data)} bytes ({host_baud} vs {self.board_baud})")
            if self.state in (XRECV, XWAIT):
                self._rx += bytes((b ^ 0x5A) for b in data)
                self._xmodem_feed()
            return
        if self.state == WINDOW:
            if b"r" in data and "ignore_r" not in self.faults:
                self.state = UPDATER
                self._say(b"\r\nWelcome to nash\r\n" + PROMPT)
            return
        if self.state == APP:
            self._say(data.replace(b"\n", b"\r\nnsh> "))
            return
        if self.state == UPDATER:
            for byte in data:
                if byte in (0x0A, 0x0D):
                    self._run(bytes(self.line).decode("ascii", "replace").strip())
                    self.line.clear()
                else:
                    self.line.append(byte)
            return
        self._rx += data
        self._xmodem_feed()

    def _run(self, cmd: str):
        self._say(cmd.encode() + b"\r\n")
        if not cmd:
            self._say(PROMPT)
            return
        words = cmd.split()
        self.log.append(f"cmd {cmd}")
        if words[0] == "rm":
            self.files.pop(words[1], None)
            self._say(PROMPT)
        elif words[0] == "sync":
            self.synced = True
            self._say(PROMPT)
        elif words[0] == "reboot":
            self.rebooted = True
            self.state = APP
            self._say(b"\r\nNuttShell (NSH)\r\nnsh> ")
        elif words[0] == "install":
            self._install_baud = int(words[2]) if len(words) == 3 and words[1] == "-b" else None
            self._say(b"Waiting for XMODEM (CRC or 1K) transfer. Ctrl-X to cancel.\r\n")
            self.state = XWAIT
            self._seq, self._file, self._rx, self._blocks = 1, bytearray(), bytearray(), 0
            if self._install_baud:
                self.board_baud = self._install_baud
        else:
            self._say(b"nash: " + words[0].encode() + b": command not found\r\n" + PROMPT)

    def _xmodem_feed(self):
        rx = self._rx
        while rx:
            if rx[0] == EOT:
                del rx[:1]
                self._say(bytes([ACK]))
                self._finish_install()
                return
            if rx[0] == CAN:
                del rx[:1]
                self.state, self.board_baud = UPDATER, 115200
                self._say(b"\r\ninstall: canceled\r\n" + PROMPT)
                return
            if rx[0] not in (SOH, STX):
                del rx[:1]  # line noise between blocks
                continue
            size = 128 if rx[0] == SOH else 1024
            if len(rx) < 3 + size + 2:
                return
            block, rx[:] = bytes(rx[:3 + size + 2]), rx[3 + size + 2:]
            self.state = XRECV
            seq, inv, payload, crc = block[1], block[2], block[3:3 + size], block[3 + size:]
            good = seq == 0xFF - inv and int.from_bytes(crc, "big") == binascii.crc_hqx(payload, 0)
            if "nak_all" in self.faults:
                good = False
            if good and seq == self._seq:
                self._file += payload
                self._seq = (self._seq + 1) & 0xFF
                self._blocks += 1
                self._say(bytes([ACK]))
                if "vanish_mid_xmodem" in self.faults and self._blocks >= 2:
                    self.unplugged = True
                if "mute_mid_xmodem" in self.faults and self._blocks >= 2:
                    self.faults.add("silent")
            elif good and seq == (self._seq - 1) & 0xFF:
                self._say(bytes([ACK]))  # a repeat of the last block: its ACK was lost
            else:
                self._say(bytes([NAK]))

    def _finish_install(self):
        self.state, self.board_baud = UPDATER, 115200
        data = bytes(self._file)
        try:
            size = spk.spk_size(data)
            img = spk.parse_spk(data[:size])
        except Exception as exc:
            self.log.append(f"install rejected: {exc}")
            self._say(b"\r\ninstall: invalid package (error -22)\r\n" + PROMPT)
            return
        self.files[img.savename] = data[:size]
        self._say(b"\r\n" + PROMPT)

    def tick(self):
        """One read timeout passes with nothing received."""
        if "silent" in self.faults:
            return
        if self.state == WINDOW:
            self.window_left -= 1
            if self.window_left <= 0:
                self.state = APP
                self._say(b"\r\nNuttShell (NSH) NuttX-10.2.0\r\nnsh> ")
        elif self.state == XWAIT and "silent" not in self.faults:
            self._say(bytes([CRC]))


class _FakePort:
    def __init__(self, board: FakeSpresense):
        self.b = board
        self.port, self.baudrate, self.timeout = None, 9600, None
        self.bytesize, self.parity, self.stopbits = 8, "N", 1
        self.is_open = False
        self._dtr = True

    def open(self):
        if self.port != self.b.port_name:
            raise serial.SerialException(2, f"could not open port {self.port}: [Errno 2] No such file or directory")
        if "busy" in self.b.faults:
            raise serial.SerialException(16, f"could not open port {self.port}: [Errno 16] Device or resource busy")
        self.is_open = True

    @property
    def dtr(self):
        return self._dtr

    @dtr.setter
    def dtr(self, value):
        # DTR asserted then released pulses the reset line
        if self._dtr and not value and self.is_open and "no_dtr_reset" not in self.b.faults:
            self.b.reset()
        self._dtr = value

    @property
    def in_waiting(self):
        self._check()
        out = self.b.out
        return len(out[0][1]) if out and out[0][0] == self.baudrate else 0

    def _check(self):
        if self.b.unplugged:
            raise serial.SerialException("device reports readiness to read but returned no data "
                                         "(device disconnected or multiple access on port?)")

    def write(self, data):
        self._check()
        self.b.receive(bytes(data), self.baudrate)
        return len(data)

    def read(self, size=1):
        self._check()
        b = self.b
        if not b.out:
            b.clock.sleep(self.timeout or 0)
            b.tick()
        if not b.out:
            return b""
        baud, seg = b.out[0]
        data = bytes(seg[:size])
        del seg[:size]
        if not seg:
            b.out.pop(0)
        # a byte sent at one rate and sampled at another arrives as garbage
        return data if baud == self.baudrate else bytes(x ^ 0xA5 for x in data)

    def reset_input_buffer(self):
        self.b.out.clear()

    def close(self):
        self.is_open = False
