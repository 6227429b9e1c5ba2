"""USB bulk links through pyusb, against a fake device at the descriptor/endpoint level.

pyusb's own ``usb.util.find_descriptor`` and endpoint helpers run for real over the fake
descriptors; only enumeration (``usb.core.find``) and interface claiming are patched. The bulk
endpoints of the protocol interface are wired to an emulated board, so a whole session runs over
the USB code path byte for byte.
"""
import zlib

import pytest
import usb.core
import usb.util

import hostlink
from hostlink.client import Device
from hostlink.emulator.board import EmulatedBoard
from hostlink.errors import ConfigError, LinkError
from hostlink.links import open_link
from hostlink.links.usb import UsbBulkLink, parse_usb_url

VID, PID = 0x18D1, 0x9308


class FakeEndpoint:
    def __init__(self, address: int, attributes: int, board_io=None):
        self.bEndpointAddress = address
        self.bmAttributes = attributes
        self.io = board_io
        self.reads: list[int] = []

    def write(self, data):
        if self.io.unplugged:
            raise usb.core.USBError("No such device (it may have been disconnected)", errno=19)
        self.io.board.feed(bytes(data))
        return len(data)

    def read(self, size, timeout=None):
        self.reads.append(size)
        if self.io.unplugged:
            raise usb.core.USBError("No such device (it may have been disconnected)", errno=19)
        if not self.io.rx:
            raise usb.core.USBTimeoutError("Operation timed out", errno=110)
        out = bytes(self.io.rx[:size])
        del self.io.rx[:size]
        return out


class BoardIO:
    """The device side: a board whose replies queue up for the bulk IN endpoint."""

    def __init__(self, profile="coralmicro"):
        self.rx = bytearray()
        self.unplugged = False
        self.board = EmulatedBoard(profile, self.rx.extend)


BULK, INTERRUPT = usb.util.ENDPOINT_TYPE_BULK, usb.util.ENDPOINT_TYPE_INTR


class FakeDevice:
    def __init__(self, serial="SN1", interfaces=None, kernel_driver=False):
        self.idVendor, self.idProduct = VID, PID
        self.serial_number = serial
        self.io = BoardIO()
        # interface 0: a CDC-style interrupt endpoint only; interface 2: the protocol's bulk pair
        self.interfaces = interfaces if interfaces is not None else {
            0: [FakeEndpoint(0x83, INTERRUPT, self.io)],
            2: [FakeEndpoint(0x81, BULK, self.io), FakeEndpoint(0x01, BULK, self.io)],
        }
        self.kernel_driver = kernel_driver
        self.detached = []

    def is_kernel_driver_active(self, interface):
        return self.kernel_driver

    def detach_kernel_driver(self, interface):
        self.detached.append(interface)

    def get_active_configuration(self):
        return {(i, 0): eps for i, eps in self.interfaces.items()}


class Bus(list):
    """The devices plugged into the fake bus, plus the patched pyusb calls."""


@pytest.fixture
def usb_bus(mocker):
    """Patch enumeration and claiming; returns the list of devices on the fake bus."""
    devices = Bus()
    find = mocker.patch("usb.core.find", side_effect=lambda find_all=False, idVendor=None, idProduct=None, backend=None: [
        d for d in devices if d.idVendor == idVendor and d.idProduct == idProduct])
    claim = mocker.patch("usb.util.claim_interface")
    mocker.patch("usb.util.release_interface")
    mocker.patch("usb.util.dispose_resources")
    devices.find, devices.claim = find, claim
    return devices


def test_url_forms():
    assert parse_usb_url("usb://18d1:9308") == (VID, PID, None, 0)
    assert parse_usb_url("usb://18d1:9308/ABC?interface=2") == (VID, PID, "ABC", 2)
    for bad in ("usb://18d1", "usb://xyz:9308", "usb://18d1:9308?interface=two"):
        with pytest.raises(ConfigError, match="usb://VID:PID"):
            parse_usb_url(bad)


def test_endpoints_found_by_vid_pid_and_interface(usb_bus):
    dev = FakeDevice(kernel_driver=True)
    usb_bus.append(dev)
    link = open_link("usb://18d1:9308?interface=2")
    assert isinstance(link, UsbBulkLink)
    assert link._ep_in.bEndpointAddress == 0x81 and link._ep_out.bEndpointAddress == 0x01
    assert dev.detached == [2]
    usb_bus.claim.assert_called_once_with(dev, 2)
    link.close()
    usb.util.release_interface.assert_called_once_with(dev, 2)


def test_whole_session_over_usb_bulk(usb_bus, tiny_model):
    dev = FakeDevice()
    usb_bus.append(dev)
    with hostlink.connect("usb://18d1:9308/SN1?interface=2") as d:
        assert d.info.board == "coralmicro"
        m = d.upload(tiny_model, name="tiny")
        assert m.crc32 == zlib.crc32(tiny_model)
        (r,) = d.capture()
        assert r.outputs[0].shape == (1, 4)
    assert dev.io.board.active.crc32 == zlib.crc32(tiny_model)
    assert set(dev.interfaces[2][0].reads) == {UsbBulkLink.READ_SIZE}


def test_serial_picks_one_of_two(usb_bus):
    a, b = FakeDevice("AAA"), FakeDevice("BBB")
    usb_bus += [a, b]
    with pytest.raises(LinkError, match="2 devices match 18d1:9308") as e:
        open_link("usb://18d1:9308?interface=2")
    assert "usb://VID:PID/SERIAL" in str(e.value)
    link = open_link("usb://18d1:9308/BBB?interface=2")
    assert link._dev is b
    link.close()


def test_no_such_device(usb_bus):
    with pytest.raises(LinkError, match="no USB device 18d1:9308") as e:
        open_link("usb://18d1:9308")
    assert "hostlink boards" in str(e.value)
    usb_bus.append(FakeDevice("AAA"))
    with pytest.raises(LinkError, match="with serial ZZZ"):
        open_link("usb://18d1:9308/ZZZ")


def test_interface_without_bulk_pair(usb_bus):
    usb_bus.append(FakeDevice())
    with pytest.raises(LinkError, match="no bulk IN/OUT endpoint pair") as e:
        open_link("usb://18d1:9308?interface=0")
    assert "?interface=N" in str(e.value)


def test_missing_interface(usb_bus):
    usb_bus.append(FakeDevice())
    with pytest.raises(LinkError, match="has no interface 5"):
        open_link("usb://18d1:9308?interface=5")


@pytest.mark.parametrize("err, message, hint", [
    (13, "permission denied on USB device 18d1:9308", "udev"),
    (16, "USB device 18d1:9308 is busy", "another program"),
])
def test_claim_errors(usb_bus, err, message, hint):
    usb_bus.append(FakeDevice())
    usb_bus.claim.side_effect = usb.core.USBError("claim failed", errno=err)
    with pytest.raises(LinkError, match=message) as e:
        open_link("usb://18d1:9308?interface=2")
    assert hint in str(e.value)


def test_no_libusb_backend(mocker):
    mocker.patch("usb.core.find", side_effect=usb.core.NoBackendError("No backend available"))
    with pytest.raises(LinkError, match="no libusb backend"):
        open_link("usb://18d1:9308")


def test_read_timeout_is_silence_and_unplug_is_an_error(usb_bus):
    dev = FakeDevice()
    usb_bus.append(dev)
    link = open_link("usb://18d1:9308?interface=2")
    assert link.read(0.01) == b""
    dev.io.unplugged = True
    with pytest.raises(LinkError, match="USB read from usb://18d1:9308"):
        link.read(0.01)
    with pytest.raises(LinkError, match="USB write to"):
        link.write(b"HL")
    with pytest.raises(LinkError, match="unplugged"):
        Device(link).hello()
