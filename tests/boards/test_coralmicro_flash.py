"""`hostlink flash --board coralmicro` end to end against a fake board (pyusb, pyserial and hidapi
patched), including the faults a real flash meets."""
import bincopy
import pytest

from hostlink.boards import coralmicro, coralmicro_images as images
from hostlink.boards.coralmicro import CoralFlasher
from hostlink.boards.errors import BootloaderRefused, MissingBuildOutput, VerifyError
from hostlink.errors import ConfigError, LinkError, LinkTimeout
from hostlink.protocols import coralmicro_elfloader as elp

from .elfgen import make_elf
from .fake_coral import APP, ELFLOADER, FLASHLOADER, GONE, ROM, FakeCoral

ELFLOADER_TEXT = 0x202C0C00
FLAG_ADDRESS = 0x202C2000


def _srec(path, address, data, start):
    b = bincopy.BinFile()
    b.add_binary(data, address=address)
    b.execution_start_address = start
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(b.as_srec())


@pytest.fixture
def build(tmp_path):
    root = tmp_path / "coralmicro" / "build"
    _srec(root / "libs/nxp/flashloader/image.srec", 0x20250000, bytes(range(256)) * 12, 0x20250000)
    code = bytes((i * 7) & 0xFF for i in range(3000))
    _srec(root / "apps/elf_loader/image.srec", ELFLOADER_TEXT, code, ELFLOADER_TEXT + 1)
    elf = make_elf([(ELFLOADER_TEXT, code, 0x2000)], ELFLOADER_TEXT + 1, {"disable_usb_timeout": FLAG_ADDRESS})
    (root / "apps/elf_loader/elf_loader").write_bytes(elf)
    return images.CoralBuild.from_dir(tmp_path / "coralmicro")


@pytest.fixture
def firmware(tmp_path):
    elf = make_elf([(0x80000000, b"\x11" * 700, 0x1000), (0x20000000, b"\x22" * 90, 0x200)], 0x80000001,
                   {"main": 0x80000101}, debug_blob=b"DWARF" * 400)
    path = tmp_path / "hello.elf"
    path.write_bytes(elf)
    return path


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "person_edgetpu.tflite"
    path.write_bytes(b"TFL3" + bytes(range(200)))
    return path


@pytest.fixture
def board(mocker):
    fake = FakeCoral(mode=APP, flag_address=FLAG_ADDRESS)
    mocker.patch("hostlink.boards.discovery.libusb_backend", return_value=object())
    mocker.patch("usb.core.find", side_effect=fake.pyusb_find)
    mocker.patch("serial.tools.list_ports.comports", side_effect=fake.comports)
    mocker.patch("serial.Serial", side_effect=fake.serial_class)
    mocker.patch("hid.device", side_effect=fake.hid_device)
    return fake


def flasher(build, clock, **kw):
    steps = []
    f = CoralFlasher(build, clock=clock, on_step=steps.append, **kw)
    f.steps_seen = steps
    return f


def test_flash_from_running_app_writes_manifest_and_boots(board, build, firmware, model, clock):
    report = flasher(build, clock).flash(firmware, data_files=[str(model)])
    assert board.mode == APP
    stripped = images.stripped_firmware(firmware)
    assert board.fs["/default.elf"] == stripped
    assert board.fs["/models/person_edgetpu.tflite"] == model.read_bytes()
    assert board.fs["/usb_ip_address"] == b"10.10.10.1"
    assert board.nand_bootable() and set(board.nand) >= {4, 8}
    image = images.elfloader_nand_image(build)  # SB loads pad to 16 bytes with random filler
    assert board.nand[4][:len(image)] == board.nand[8][:len(image)] == image  # two redundant copies
    assert board.usb_timeout_disabled
    assert "cdc open at 1200" in board.log
    assert report.board_serial == board.serial_number
    assert [p for p, _ in report.files] == ["/default.elf", "/models/person_edgetpu.tflite", "/usb_ip_address"]
    assert report.verified_ram_bytes == 3000 + 4


def test_stripped_firmware_drops_sections_but_keeps_segments(firmware):
    from io import BytesIO

    from elftools.elf.elffile import ELFFile

    stripped = images.stripped_firmware(firmware)
    assert b"DWARF" not in stripped and len(stripped) < firmware.stat().st_size
    elf = ELFFile(BytesIO(stripped))
    assert elf.num_sections() == 0
    segs = [(s["p_paddr"], s.data()) for s in elf.iter_segments()]
    assert segs == [(0x80000000, b"\x11" * 700), (0x20000000, b"\x22" * 90)]


def test_flash_from_elfloader_and_from_rom(board, build, firmware, clock):
    board.set_mode(ELFLOADER)
    flasher(build, clock).flash(firmware)
    assert board.mode == APP and "elf_loader -> rom" in board.log
    board.set_mode(ROM)
    flasher(build, clock).flash(firmware)
    assert board.mode == APP


def test_ram_mode_runs_image_without_touching_flash(board, build, firmware, clock):
    board.fs["/default.elf"] = b"old"
    report = flasher(build, clock).flash(firmware, ram=True)
    assert board.ram_image == images.stripped_firmware(firmware)
    assert board.fs == {"/default.elf": b"old"} and not board.nand
    assert report.files == [("(RAM)", len(board.ram_image))]


def test_rom_that_ignores_the_flashloader_times_out_then_retry_succeeds(board, build, firmware, clock):
    board.faults.add("rom_ignores_image")
    with pytest.raises(LinkTimeout, match="flashloader mode.*now seen: rom"):
        flasher(build, clock).flash(firmware)
    assert board.mode == ROM and clock.slept > 0
    board.faults.clear()
    flasher(build, clock).flash(firmware)
    assert board.mode == APP and board.fs["/default.elf"]


def test_sb_file_refused_is_a_bootloader_error(board, build, firmware, clock):
    board.faults.add("sb_refused")
    with pytest.raises(BootloaderRefused, match="flashloader refused receive-sb-file"):
        flasher(build, clock).flash(firmware)
    assert board.mode == FLASHLOADER and not board.fs
    board.faults.clear()
    flasher(build, clock).flash(firmware)
    assert board.mode == APP


def test_board_vanishing_mid_file_is_a_link_error(board, build, firmware, model, clock):
    board.faults.add("vanish_during_files")
    with pytest.raises(LinkError, match="vanished while writing /default.elf"):
        flasher(build, clock).flash(firmware, data_files=[str(model)])
    assert board.mode == GONE
    # re-plugged without the user button: it comes back in the ROM (NAND holds elf_loader, but
    # the fake models the board held in recovery), and the retry completes
    board.faults.clear()
    board.set_mode(ROM)
    flasher(build, clock).flash(firmware, data_files=[str(model)])
    assert board.mode == APP and board.fs["/models/person_edgetpu.tflite"] == model.read_bytes()


def test_silent_elfloader_times_out(board, build, firmware, clock, mocker):
    mocker.patch.object(coralmicro.sys, "platform", "linux")
    board.faults.add("elfloader_silent")
    with pytest.raises(LinkTimeout, match="did not acknowledge"):
        flasher(build, clock).flash(firmware)
    assert board.mode == ELFLOADER


def test_ram_read_back_mismatch_is_a_verify_error(board, build, firmware, clock):
    board.faults.add("corrupt_ram")
    with pytest.raises(VerifyError, match="read-back of elf_loader"):
        flasher(build, clock).flash(firmware)
    board.faults.clear()
    flasher(build, clock).flash(firmware)
    assert board.mode == APP


def test_app_without_the_1200_baud_hook_is_reported_as_wrong_mode(board, build, firmware, clock):
    board.faults.add("ignore_1200")
    with pytest.raises(LinkTimeout, match="did not appear in rom mode.*now seen: app"):
        flasher(build, clock).flash(firmware)
    assert board.ignored_1200 and board.mode == APP


def test_permission_denied_on_first_open_is_retried(board, build, firmware, clock):
    board.faults.add("cdc_permission")
    flasher(build, clock).flash(firmware)
    assert board.mode == APP


def test_no_board_is_a_clear_error(board, build, firmware, clock):
    board.set_mode(GONE)
    with pytest.raises(LinkError, match="no Coral Dev Board Micro found"):
        flasher(build, clock).flash(firmware)
    assert clock.slept == pytest.approx(9.0)  # 10 polls, 1 s apart, none of it real


def test_serial_filter_ignores_other_boards(board, build, firmware, clock):
    with pytest.raises(LinkError, match="with serial FFFF"):
        flasher(build, clock, serial="FFFF").flash(firmware)


def test_missing_build_outputs(tmp_path, monkeypatch):
    monkeypatch.delenv(images.ENV_BUILD, raising=False)
    with pytest.raises(MissingBuildOutput, match="--build-dir"):
        images.CoralBuild.from_dir(None)
    (tmp_path / "apps").mkdir()
    with pytest.raises(MissingBuildOutput, match="libs/nxp/flashloader/image.srec"):
        images.CoralBuild.from_dir(tmp_path)


def test_bad_firmware_is_refused_before_the_board_is_touched(board, build, tmp_path, clock):
    bad = tmp_path / "x.elf"
    bad.write_bytes(b"not an elf")
    with pytest.raises(ConfigError, match="not an ELF"):
        flasher(build, clock).flash(bad)
    assert board.log == []


def test_ram_with_data_is_refused(board, build, firmware, model, clock):
    with pytest.raises(ConfigError, match="--ram"):
        flasher(build, clock).flash(firmware, ram=True, data_files=[str(model)])


def test_manifest_paths(tmp_path):
    a = tmp_path / "labels.txt"
    a.write_text("cat")
    m = images.build_manifest(b"ELF", [str(a), f"{a}=/extra/l.txt"], "10.10.10.2")
    assert [(e.path, e.data) for e in m] == [("/default.elf", b"ELF"), ("/labels.txt", b"cat"),
                                             ("/extra/l.txt", b"cat"), ("/usb_ip_address", b"10.10.10.2")]
    with pytest.raises(ConfigError, match="two files"):
        images.build_manifest(b"ELF", [str(a), str(a)])


def test_boot_images_have_ivt_and_boot_data(build):
    from spsdk.sbfile.sb1.images import SecureBootV1

    fl = images.flashloader_image(build)
    assert fl[0] == 0xD1 and fl[3] == 0x41
    assert int.from_bytes(fl[4:8], "little") == images.FLASHLOADER_ENTRY
    assert fl[0x100:0x110] == bytes(range(16))  # srec data at its address (0x20250000)
    nand = images.elfloader_nand_image(build)
    assert nand[0x400] == 0xD1 and nand[0xC00:0xC03] == bytes([0, 7, 14])
    sb = SecureBootV1.parse(images.program_sb(nand, erase_filesystem=True))
    kinds = [type(c).__name__ for c in sb.sections[0].commands]
    assert kinds == ["CmdFill"] * 5 + ["CmdMemEnable", "CmdErase", "CmdErase", "CmdErase", "CmdLoad", "CmdLoad"]


def test_elfloader_reports_match_flashtool_struct_layout():
    import struct

    assert elp.build_report(elp.Command.SETSIZE, size=1234) == struct.pack("=BBl", 0, 0, 1234)
    assert elp.build_report(elp.Command.BYTES, offset=55, data=b"abc") == struct.pack("=BBll3s", 0, 1, 3, 55, b"abc")
    assert elp.build_report(elp.Command.TARGET, target="FILESYSTEM") == struct.pack("=BBB", 0, 4, 2)
    assert elp.build_report(elp.Command.RESET_TO_FLASH) == b"\x00\x05"
    reports = elp.transfer_reports(elp.Target.RAM, bytes(111))
    assert len(reports) == 2 + 3 + 1 and max(map(len, reports)) == 65


def test_runtime_link_refuses_reset_baud():
    from hostlink.boards.discovery import FoundBoard

    app = FoundBoard("coralmicro", "app", 0x18D1, 0x9308, "X", "/dev/ttyACM0", "app")
    with pytest.raises(ConfigError, match="1200 baud reboots"):
        coralmicro.BOARD.open_link(app.port, 1200)
    assert coralmicro.console_port(app) == "/dev/ttyACM0"
