"""The board registry: each board module declares itself once, and everything reads it."""
from pathlib import Path

import pytest

from hostlink.boards import discovery, doctor, registry
from hostlink.emulator import profiles
from hostlink.errors import ConfigError

RULES = Path(__file__).resolve().parents[2] / "tools" / "udev" / "99-hostlink.rules"


def test_every_board_module_is_registered_once_with_its_kind():
    names = registry.names()
    assert names[:3] == ("imx500", "coralmicro", "spresense")
    assert len(set(names)) == len(names)
    for b in registry.boards():
        assert registry.get(b.name) is b
        assert registry.get(b.name.upper()) is b


def test_unknown_board_names_the_known_ones():
    with pytest.raises(ConfigError, match="unknown board 'esp32'") as err:
        registry.get("esp32")
    assert "coralmicro" in err.value.hint


def test_committed_udev_rules_are_generated_from_the_registry():
    assert RULES.read_text() == registry.udev_rules(), \
        "regenerate: python -m hostlink.boards.registry > tools/udev/99-hostlink.rules"


def test_udev_rules_have_no_trailing_comments():
    for line in registry.udev_rules().splitlines():
        assert line.startswith("#") or "#" not in line, line


def test_discovery_identifies_every_declared_usb_id():
    for kind, u in registry.usb_ids():
        ident = discovery.identify(u.vid, u.pid, u.product)
        assert ident is not None and ident.board == kind and ident.mode == u.mode
    gadget = registry.get("imx500").usb[0]
    assert discovery.identify(gadget.vid, gadget.pid, "some other gadget") is None


def test_doctor_advice_and_packages_come_from_the_boards():
    rom = discovery.FoundBoard("coralmicro", "rom", 0x1FC9, 0x013D, None, None, "rom")
    (check,) = doctor.check_board(rom)
    assert check.status == "warn" and "flash --board coralmicro" in check.hint
    wanted = {p for _, p, _ in doctor._packages()}
    assert {"pyusb", "pyserial", "hidapi", "spsdk", "xmodem"} <= wanted
    assert "hostlink.boards.registry" in doctor.install_rules_command()


def test_emulator_profiles_are_the_boards_declared_profiles():
    assert profiles.BOARD_NAMES == registry.emulated()
    for name in registry.emulated():
        assert profiles.get_profile(name).name == name
    with pytest.raises(ConfigError, match="unknown board"):
        profiles.get_profile("nope")


def test_flashers_declare_their_options():
    for name in registry.flashable():
        flasher = registry.get(name).flasher
        assert issubclass(flasher, registry.Flasher) and flasher.options and flasher.summary


def test_link_opener_uses_the_boards_rate_and_refuses_corals_reset_rate():
    with pytest.raises(ConfigError, match="1200 baud reboots"):
        registry.link_opener("/dev/ttyACM9", "coralmicro", 1200)()


def test_the_generator_command_writes_the_committed_rules():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "hostlink.boards.registry"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out == RULES.read_text()
