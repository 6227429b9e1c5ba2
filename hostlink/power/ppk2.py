"""Nordic PPK2 driver on pyserial: commands and metadata from ``protocols/ppk2.py``, decoding in
``ppk2_decode``.

Init follows the PPK2 app: GetMetadata (retried: the first read sometimes fails), RegulatorSet to
the wanted voltage, user gains outside 0.9-1.1 reset to 1.0, SetPowerMode. ``start()`` stops any
stream left running, flushes the input (a late AverageStop otherwise leaves stale words) and sends
AverageStart. A reader thread moves bytes from the port into a queue with large reads (never
per-sample work); ``read()`` decodes whatever arrived in one vectorised pass.

Power = current x the set-point: the PPK2 has no voltage channel (flag VOLTAGE_SETPOINT). In
ampere-meter mode the DUT has its own supply; pass its voltage to ``configure`` because the
calibration has a term proportional to it.
"""
from __future__ import annotations

import queue
import threading
import time

import serial

from ..protocols import ppk2 as proto
from .base import MonitorError, MonitorInfo, MonitorStats, PowerMonitor, SampleBlock
from .ppk2_decode import Ppk2Calibration, Ppk2Decoder

METADATA_TIMEOUT_S = 2.0
METADATA_ATTEMPTS = 3
READ_TIMEOUT_S = 0.02  # the reader thread's read timeout; bounds stop() latency
READ_SIZE = 16384  # bytes per read: 41 ms of samples at 400 kB/s
SETTLE_S = 0.05  # after AverageStop, for words already in flight


def find_ppk2_port() -> str:
    from serial.tools import list_ports

    ports = [p for p in list_ports.comports() if p.vid == proto.USB_VID and p.pid == proto.USB_PID]
    if not ports:
        raise MonitorError(f"no PPK2 found (USB {proto.USB_VID:04x}:{proto.USB_PID:04x})",
                           hint="plug it in (not through a dock), check `lsusb`, or give the port: "
                                "ppk2:///dev/ttyACM0")
    if len(ports) > 1:
        # firmware >= 1.2.0 adds a debug shell port; the data port's location ends in 1
        data = [p for p in ports if (p.location or "").endswith("1")]
        ports = data or sorted(ports, key=lambda p: p.device)
    return ports[0].device


class Ppk2Monitor(PowerMonitor):
    """``Ppk2Monitor("/dev/ttyACM0")``, ``Ppk2Monitor()`` (find it) or ``Ppk2Monitor(serial_obj)``."""

    def __init__(self, port=None, *, mode: str = "source", supply_v: float | None = None,
                 spike_filter: bool = True):
        super().__init__()
        self._port_arg = port
        self.mode = mode
        self.supply_v = supply_v
        self.decoder = Ppk2Decoder(spike_filter=spike_filter)
        self.metadata: dict = {}
        self.ser = None
        self.info = MonitorInfo("ppk2", "PPK2", "", float(proto.SAMPLE_RATE_HZ), 8, False, True,
                                (proto.VDD_MIN_MV / 1000, proto.VDD_MAX_MV / 1000))
        self._queue: queue.Queue[bytes] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._halt = threading.Event()
        self._error: BaseException | None = None
        self._streaming = False

    @property
    def port_name(self) -> str:
        return getattr(self.ser, "port", None) or str(self._port_arg)

    # -- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        port = self._port_arg
        if port is None or port == "auto":
            port = find_ppk2_port()
        if isinstance(port, str):
            try:
                self.ser = serial.serial_for_url(port, baudrate=115200, timeout=READ_TIMEOUT_S)
            except (serial.SerialException, OSError) as err:
                raise MonitorError(f"cannot open the PPK2 at {port}: {err}",
                                   hint="is it plugged in and not held by the Power Profiler app? "
                                        "On Linux, is your user in the dialout group?") from None
        else:
            self.ser = port
            self.ser.timeout = READ_TIMEOUT_S
        try:
            self._write(proto.build_command(proto.Command.AVERAGE_STOP))
            self.ser.reset_input_buffer()
            self.metadata = self._read_metadata()
            self.decoder.calibration = Ppk2Calibration.from_metadata(self.metadata)
            for r in range(proto.N_RANGES):
                ug = self.metadata.get(f"UG{r}", 1.0)
                if not 0.9 <= ug <= 1.1:
                    self._write(proto.build_command(proto.Command.SET_USER_GAINS, range=r, gain=1.0))
            vdd = self.supply_v if self.supply_v is not None else self.metadata.get("VDD", 3300) / 1000
            serial_no = getattr(self.ser, "serial_number", None) or f"HW{self.metadata.get('HW', '?')}"
            self.info = MonitorInfo("ppk2", "PPK2", str(serial_no), float(proto.SAMPLE_RATE_HZ), 8,
                                    False, True, (proto.VDD_MIN_MV / 1000, proto.VDD_MAX_MV / 1000),
                                    firmware=f"HW {self.metadata.get('HW', '?')}")
            self.configure(supply_v=vdd, mode=self.mode)
        except BaseException:
            self.ser.close()
            raise

    def close(self) -> None:
        if self.ser is None:
            return
        try:
            self.stop()
        finally:
            try:
                self.ser.close()
            except (serial.SerialException, OSError):
                pass
            self.ser = None

    def _write(self, data: bytes) -> None:
        try:
            self.ser.write(data)
        except (serial.SerialException, OSError) as err:
            raise MonitorError(f"the PPK2 on {self.port_name} stopped answering: {err}",
                               hint="it vanished from USB (cable, hub, power); reconnect it") from None

    def _read_metadata(self) -> dict:
        last = "no reply"
        for _ in range(METADATA_ATTEMPTS):
            self._write(proto.build_command(proto.Command.GET_METADATA))
            buf = bytearray()
            deadline = time.monotonic() + METADATA_TIMEOUT_S
            while time.monotonic() < deadline and proto.METADATA_END not in buf:
                try:
                    buf += self.ser.read(4096)
                except (serial.SerialException, OSError) as err:
                    raise MonitorError(f"the PPK2 on {self.port_name} failed while reading metadata: {err}",
                                       hint="reconnect it") from None
            try:
                return proto.parse_metadata(bytes(buf))
            except proto.MetadataError as err:
                last = str(err)
                self.ser.reset_input_buffer()
        raise MonitorError(f"{self.port_name} did not send PPK2 metadata ({last})",
                           hint="is this the PPK2's data port (not its debug shell)? Unplug and replug it")

    # -- settings -------------------------------------------------------------------------------

    def configure(self, *, supply_v: float | None = None, mode: str = "source") -> None:
        if mode not in ("source", "ampere"):
            raise MonitorError(f"unknown PPK2 mode {mode!r}", hint="use source or ampere")
        self.mode = mode
        if supply_v is not None:
            mv = int(round(supply_v * 1000))
            if not proto.VDD_MIN_MV <= mv <= proto.VDD_MAX_MV:
                raise MonitorError(f"the PPK2 supplies {proto.VDD_MIN_MV}-{proto.VDD_MAX_MV} mV, not {mv} mV",
                                   hint="pick a supply voltage in range (ampere mode: the DUT's voltage)")
            self.supply_v = mv / 1000
        pm = proto.PowerMode.SOURCE if mode == "source" else proto.PowerMode.AMPERE
        self._write(proto.build_command(proto.Command.SET_POWER_MODE, mode=pm.name))
        self._write(proto.build_command(proto.Command.REGULATOR_SET, millivolts=int(round(self.supply_v * 1000))))
        if mode == "ampere":
            self._write(proto.build_command(proto.Command.DEVICE_RUNNING_SET, on=1))
        self.decoder.set_vdd(self.supply_v * 1000)

    def set_dut_power(self, on: bool) -> None:
        self._write(proto.build_command(proto.Command.DEVICE_RUNNING_SET, on=int(bool(on))))

    # -- streaming ------------------------------------------------------------------------------

    def start(self) -> None:
        self.stop()
        self.decoder.reset()
        self.decoder.stats.__init__()
        self.stats = MonitorStats()
        self._next_index = 0
        self._error = None
        self._queue = queue.Queue()
        self._halt.clear()
        try:
            self.ser.reset_input_buffer()  # e.g. the newline after the metadata's END
        except (serial.SerialException, OSError) as err:
            raise MonitorError(f"the PPK2 on {self.port_name} stopped answering: {err}",
                               hint="it vanished from USB (cable, hub, power); reconnect it") from None
        self._write(proto.build_command(proto.Command.AVERAGE_START))
        self._streaming = True
        self._reader = threading.Thread(target=self._pump, name="ppk2-reader", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        ser, q, halt = self.ser, self._queue, self._halt
        try:
            while not halt.is_set():
                data = ser.read(READ_SIZE)
                if data:
                    q.put(data)
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread by read()
            self._error = err

    def stop(self) -> None:
        if not self._streaming:
            return
        self._streaming = False
        try:
            self.ser.write(proto.build_command(proto.Command.AVERAGE_STOP))
        except (serial.SerialException, OSError):
            pass  # gone already; read() has reported or will report it
        self._halt.set()
        if self._reader is not None:
            self._reader.join(timeout=2)
            self._reader = None
        try:
            time.sleep(SETTLE_S)
            self.ser.reset_input_buffer()
        except (serial.SerialException, OSError):
            pass

    def read(self, timeout: float = 0.1) -> SampleBlock | None:
        chunks = []
        try:
            chunks.append(self._queue.get(timeout=timeout))
            while True:
                chunks.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        if not chunks:
            if self._error is not None:  # the reader's last act: nothing more will come
                err, self._error = self._error, None
                self._streaming = False
                raise MonitorError(
                    f"the PPK2 on {self.port_name} vanished after {self._next_index} samples: {err}",
                    hint="check the USB cable and hub; the samples read before the loss are kept")
            return None
        samples = self.decoder.feed(b"".join(chunks))
        d = self.decoder.stats
        self.stats.missing, self.stats.gaps = d.missing, d.gaps
        self.stats.resyncs, self.stats.suspect, self.stats.bytes = d.resyncs, d.suspect, d.bytes
        if len(samples) == 0:
            return None
        return self._block(samples)
