"""`hostlink flash --board spresense` end to end: the real `xmodem` package talks to a fake board
whose updater is an XMODEM receiver, through a patched pyserial."""
import pytest

from hostlink.boards import spresense
from hostlink.boards.errors import BootloaderRefused, WrongMode
from hostlink.boards.spresense import SpresenseFlasher, SpresenseTimings
from hostlink.errors import ConfigError, LinkError, LinkTimeout
from hostlink.protocols import spresense_spk as spk

from .elfgen import make_elf
from .fake_spresense import APP, FakeSpresense

TEXT = bytes((i * 13) & 0xFF for i in range(5000))


@pytest.fixture
def elf_path(tmp_path):
    path = tmp_path / "sketch.elf"
    path.write_bytes(make_elf([(0x0D000000, TEXT, 6000), (0x0D020000, b"\x01\x02\x03", 64)], 0x0D0000A1,
                              {"__stack": 0x0D0F0000}, debug_blob=b"dbg" * 100))
    return path


@pytest.fixture
def spk_path(tmp_path, elf_path):
    path = tmp_path / "nuttx.spk"
    path.write_bytes(spresense.spk_from_elf(elf_path))
    return path


@pytest.fixture
def board(mocker, clock):
    fake = FakeSpresense(clock)
    mocker.patch("serial.Serial", side_effect=fake.serial_class)
    return fake


def flasher(clock, port="/dev/ttyUSB3", **kw):
    return SpresenseFlasher(port, clock=clock, **kw)


def test_spk_from_elf_matches_mkspk_layout(elf_path):
    data = spresense.spk_from_elf(elf_path)
    img = spk.parse_spk(data)
    assert (img.cpu, img.core, img.entry, img.stack, img.savename, img.mode) == (2, 2, 0x0D0000A1, 0x0D0F0000,
                                                                                 "nuttx", 0o777)
    assert img.phoffs == 32 + 16
    first, second = img.programs
    assert (first.load_address, first.offset, first.size, first.memsize) == (0x0D000000, 48 + 32, 5008, 6000)
    assert (second.offset, second.size) == (80 + 5008, 16)
    assert img.segments[:5000] == TEXT and img.segments[5000:5008] == bytes(8)
    assert data.endswith(spk.FOOTER) and len(data) == 80 + 5008 + 16 + 16 + 16


def test_flash_spk_installs_and_reboots(board, spk_path, clock):
    report = flasher(clock).flash([spk_path])
    assert board.files["nuttx"] == spk_path.read_bytes()
    assert board.synced and board.rebooted and board.state == APP
    assert report.installed == [("nuttx.spk", spk_path.stat().st_size)]


def test_flash_elf_packages_it_first(board, elf_path, clock):
    flasher(clock).flash([elf_path])
    assert board.files["nuttx"] == spresense.spk_from_elf(elf_path)


def test_baud_switch_for_the_transfer(board, spk_path, clock):
    report = flasher(clock).flash([spk_path], baud=921600)
    assert "cmd install -b 921600" in board.log
    assert board.files["nuttx"] == spk_path.read_bytes()
    assert not any(line.startswith("garbled") for line in board.log)
    assert report.baud == 921600


def test_rm_before_install(board, spk_path, clock):
    board.files["sub1"] = b"x"
    report = flasher(clock).flash([spk_path], remove=["sub1"])
    assert "sub1" not in board.files and report.removed == ["sub1"]


def test_nak_every_block_is_refused_then_retry_succeeds(board, spk_path, clock):
    board.faults.add("nak_all")
    with pytest.raises(BootloaderRefused, match="refused the XMODEM upload of nuttx.spk.*NAK"):
        flasher(clock).flash([spk_path])
    assert board.files["nuttx"] == b"old" and not board.synced
    board.faults.clear()
    flasher(clock).flash([spk_path])
    assert board.files["nuttx"] == spk_path.read_bytes()


def test_board_vanishing_mid_transfer_is_a_link_error(board, spk_path, clock):
    board.faults.add("vanish_mid_xmodem")
    with pytest.raises(LinkError, match="vanished during the XMODEM upload of nuttx.spk"):
        flasher(clock).flash([spk_path])
    board.faults.clear()
    board.unplugged = False  # plugged back in
    flasher(clock).flash([spk_path])
    assert board.files["nuttx"] == spk_path.read_bytes()


def test_board_going_silent_mid_transfer_times_out(board, spk_path, clock):
    board.faults.add("mute_mid_xmodem")
    timings = SpresenseTimings(xmodem_packet_s=1.0, xmodem_retry=3)
    with pytest.raises(LinkTimeout, match="stopped answering during the XMODEM upload"):
        flasher(clock, timings=timings).flash([spk_path])
    assert board.files["nuttx"] == b"old"


def test_silent_port_is_a_timeout_naming_the_banner(board, spk_path, clock):
    board.faults.add("silent")
    with pytest.raises(LinkTimeout, match="no 'Welcome to nash' banner.*printed nothing"):
        flasher(clock).flash([spk_path])
    assert board.resets >= 3  # one DTR pulse per attempt (the first also releases the DTR of open)


def test_board_running_its_app_without_dtr_reset_is_wrong_mode(board, spk_path, clock):
    board.faults.add("no_dtr_reset")
    with pytest.raises(WrongMode, match="running its application"):
        flasher(clock).flash([spk_path])


def test_updater_rejecting_a_corrupt_package(board, spk_path, clock, mocker):
    data = bytearray(spk_path.read_bytes())
    data[100] ^= 0xFF  # the CMAC no longer matches
    mocker.patch.object(spresense, "load_package", return_value=("bad.spk", bytes(data)))
    with pytest.raises(BootloaderRefused, match="did not install bad.spk.*invalid package"):
        flasher(clock).flash([spk_path])


def test_corrupt_spk_file_is_refused_before_touching_the_board(board, spk_path, clock, tmp_path):
    data = bytearray(spk_path.read_bytes())
    data[60] ^= 1
    bad = tmp_path / "bad.spk"
    bad.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="not a valid .spk"):
        flasher(clock).flash([bad])
    assert board.resets == 0


def test_busy_and_missing_ports(board, spk_path, clock):
    board.faults.add("busy")
    with pytest.raises(LinkError, match="busy"):
        flasher(clock).flash([spk_path])
    with pytest.raises(LinkError, match="cannot open /dev/ttyUSB9"):
        flasher(clock, port="/dev/ttyUSB9").flash([spk_path])


def test_bad_baud_is_a_config_error(board, spk_path, clock):
    with pytest.raises(ConfigError, match="--baud 123"):
        flasher(clock).flash([spk_path], baud=123)
