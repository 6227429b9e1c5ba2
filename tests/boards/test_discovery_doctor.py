"""Discovery (pyusb + pyserial patched), `hostlink doctor` and the CLI on a machine without boards."""
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from hostlink.boards import discovery, doctor
from hostlink.boards.discovery import FoundBoard, find_boards


def _usb(vid, pid, serial=None, product=None):
    return SimpleNamespace(idVendor=vid, idProduct=pid, serial_number=serial, product=product, bus=1, address=9)


def _tty(device, vid, pid, serial=None, product=None):
    return SimpleNamespace(device=device, vid=vid, pid=pid, serial_number=serial, product=product,
                           description=product or "n/a")


@pytest.fixture
def usb(mocker):
    state = {"usb": [], "tty": []}
    mocker.patch.object(discovery, "libusb_backend", return_value=object())
    mocker.patch("usb.core.find", side_effect=lambda **kw: iter(state["usb"]))
    mocker.patch("serial.tools.list_ports.comports", side_effect=lambda *a, **k: list(state["tty"]))
    return state


def test_modes_by_vid_pid_and_merge_with_ttys(usb):
    usb["usb"] = [_usb(0x1FC9, 0x013D), _usb(0x18D1, 0x9307, "AB12"), _usb(0x18D1, 0x9308, "CD34"),
                  _usb(0x10C4, 0xEA60, "0001"), _usb(0x1D6B, 0x0104, "pi", "hostlink IMX500 agent"),
                  _usb(0x1D6B, 0x0104, "x", "some other gadget"), _usb(0x046D, 0xC52B)]
    usb["tty"] = [_tty("/dev/ttyACM0", 0x18D1, 0x9308, "CD34"), _tty("/dev/ttyUSB0", 0x10C4, 0xEA60, "0001"),
                  _tty("/dev/ttyACM1", 0x1D6B, 0x0104, "pi", "hostlink IMX500 agent"), _tty("/dev/ttyS0", None, None)]
    found = {(b.board, b.mode, b.serial, b.port) for b in find_boards()}
    assert found == {("coralmicro", "rom", None, None), ("coralmicro", "elf_loader", "AB12", None),
                     ("coralmicro", "app", "CD34", "/dev/ttyACM0"), ("spresense", "unknown", "0001", "/dev/ttyUSB0"),
                     ("imx500", "app", "pi", "/dev/ttyACM1")}


def test_no_libusb_and_no_ports_is_empty_not_an_error(mocker):
    mocker.patch.object(discovery, "libusb_backend", return_value=None)
    mocker.patch("serial.tools.list_ports.comports", side_effect=OSError("no sysfs"))
    assert find_boards() == []


def test_usb_enumeration_failure_falls_back_to_ttys(usb, mocker):
    import usb.core as usbcore

    mocker.patch.object(usbcore, "find", side_effect=usbcore.NoBackendError("No backend available"))
    usb["tty"] = [_tty("/dev/ttyACM3", 0x18D1, 0x9308, "EE")]
    assert [(b.mode, b.port) for b in find_boards()] == [("app", "/dev/ttyACM3")]


def test_unreadable_string_descriptor_keeps_the_board(usb):
    class NoAccess:
        idVendor, idProduct, bus, address = 0x18D1, 0x9307, 3, 4

        @property
        def serial_number(self):
            raise ValueError("The device has no langid (permission issue, no string descriptors?)")

    usb["usb"] = [NoAccess()]
    assert [(b.mode, b.serial) for b in find_boards()] == [("elf_loader", None)]


def test_doctor_advises_on_wrong_mode_and_busy_port(tmp_path, mocker):
    port = tmp_path / "ttyACM0"
    port.write_text("")
    proc = tmp_path / "proc"
    (proc / "4242" / "fd").mkdir(parents=True)
    (proc / "4242" / "comm").write_text("minicom\n")
    (proc / "4242" / "fd" / "3").symlink_to(port)
    rom = FoundBoard("coralmicro", "rom", 0x1FC9, 0x013D, None, None, "ROM")
    app = FoundBoard("coralmicro", "app", 0x18D1, 0x9308, "CD34", str(port), "app")
    rom_checks = doctor.check_board(rom, proc)
    assert rom_checks[0].status == "warn" and "flash" in rom_checks[0].hint
    app_checks = doctor.check_board(app, proc)
    busy = [c for c in app_checks if "busy" in c.detail]
    assert busy and "minicom (pid 4242)" in busy[0].detail


def test_doctor_missing_port_node(tmp_path):
    b = FoundBoard("spresense", "unknown", 0x10C4, 0xEA60, "1", str(tmp_path / "gone"), "cp2102n")
    assert any(c.status == "fail" and "missing" in c.detail for c in doctor.check_board(b, tmp_path))


def test_udev_check(tmp_path):
    assert doctor.check_udev_rules(tmp_path).status == "warn"
    (tmp_path / doctor.RULES_NAME).write_text(doctor.rules_text())
    assert doctor.check_udev_rules(tmp_path).status == "ok"


def test_shipped_rules_cover_every_known_identity():
    text = doctor.rules_text()
    for ident in discovery.known_ids():
        assert f'ATTRS{{idVendor}}=="{ident.vid:04x}", ATTRS{{idProduct}}=="{ident.pid:04x}"' in text, ident


def test_missing_libusb_is_reported(mocker):
    mocker.patch.object(doctor, "libusb_backend", return_value=None)
    c = doctor.check_libusb()
    assert c.status == "fail" and "libusb-package" in c.hint


def test_cli_doctor_and_flash_help_without_boards(mocker):
    from hostlink.cli import main

    mocker.patch.object(doctor, "find_boards", return_value=[])
    runner = CliRunner()
    res = runner.invoke(main, ["doctor"])
    assert res.exit_code in (0, 1), res.output
    assert "no board plugged in" in res.output and "board(s) found" in res.output
    res = runner.invoke(main, ["flash", "--board", "coralmicro", "--help"])
    assert res.exit_code == 0 and "--ram" in res.output and "--data" in res.output


def test_cli_flash_coral_without_build_dir_says_what_is_missing(tmp_path, monkeypatch):
    from hostlink.cli import main

    monkeypatch.delenv("CORALMICRO_BUILD", raising=False)
    fw = tmp_path / "app.elf"
    fw.write_bytes(b"\x7fELF")
    res = CliRunner().invoke(main, ["flash", "--board", "coralmicro", str(fw)])
    assert res.exit_code == 2 and "coralmicro build outputs" in res.output


def test_cli_flash_spresense_without_a_port(tmp_path, mocker):
    from hostlink.cli import main

    mocker.patch("hostlink.boards.discovery.find_boards", return_value=[])
    fw = tmp_path / "nuttx.spk"
    fw.write_bytes(b"x")
    res = CliRunner().invoke(main, ["flash", "--board", "spresense", str(fw)])
    assert res.exit_code == 2 and "no Spresense serial port found" in res.output
