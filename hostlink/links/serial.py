"""Serial links through pyserial: /dev/tty*, ptys, COM ports and pyserial's URL handlers
(socket://HOST:PORT, loop://, rfc2217://, spy://...)."""
import errno
import select

import serial

from ..errors import LinkError
from .base import Link

DIALOUT_HINT = ("add yourself to the 'dialout' group (sudo usermod -aG dialout $USER, then log in "
                "again) and install the udev rules: hostlink doctor shows how")


def _explain(url: str, exc: Exception) -> LinkError:
    err = getattr(exc, "errno", None)
    text = str(exc)
    if err == errno.ENOENT or "No such file" in text or "could not open port" in text and "[Errno 2]" in text:
        return LinkError(f"port {url} does not exist", "is the board plugged in? `hostlink boards` lists what is connected")
    if err in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return LinkError(f"permission denied on {url}", DIALOUT_HINT)
    if err == errno.EBUSY or "busy" in text.lower() or "exclusively lock" in text:
        return LinkError(f"port {url} is busy: another program has it open",
                         "close the other terminal or tool (screen, minicom, a second hostlink) and retry")
    if "Connection refused" in text or err == errno.ECONNREFUSED:
        return LinkError(f"nothing listens at {url}", "start the board agent or `hostlink emulate --tcp ...` first")
    return LinkError(f"cannot open {url}: {text}")


class SerialLink(Link):
    def __init__(self, url: str, baudrate: int = 921600, **kwargs):
        self.url = url
        try:
            self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=0, exclusive=True
                                               if url.startswith("/dev/") else None, **kwargs)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise _explain(url, exc) from None
        try:
            self._fd = self._port.fileno()
        except (AttributeError, NotImplementedError, ValueError, serial.SerialException):
            self._fd = None  # loop://, socket:// and friends have no file descriptor to wait on
        # A real UART moves 10 bits per byte (8N1); USB CDC ignores the baud rate, so unknown.
        self.byte_rate = baudrate / 10 if url.startswith("/dev/ttyS") or url.startswith("/dev/ttyUSB") else None

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"write to {self.url} failed: {exc}", "the device may have been unplugged or reset") from None

    def read(self, timeout: float) -> bytes:
        port = self._port
        try:
            waiting = port.in_waiting
            if waiting:
                return port.read(waiting)
            if self._fd is not None:
                # select() instead of changing port.timeout: pyserial re-applies termios on every
                # timeout change, which costs more than the read itself on a busy link.
                if not select.select([self._fd], [], [], timeout)[0]:
                    return b""
                waiting = port.in_waiting
                return port.read(waiting or 1)
            port.timeout = timeout
            first = port.read(1)
            if not first:
                return b""
            waiting = port.in_waiting
            return first + port.read(waiting) if waiting else first
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"read from {self.url} failed: {exc}", "the device may have been unplugged or reset") from None

    def reset_input(self) -> None:
        try:
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError):
            pass

    def close(self) -> None:
        try:
            self._port.close()
        except Exception:  # closing a vanished device must not mask the original error
            pass
