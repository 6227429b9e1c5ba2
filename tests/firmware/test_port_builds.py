"""The vendor ports built inside their real SDKs (make -C firmware port), and the scripts' refusals.

CI has no SDK checkout: the SDK builds skip, naming the variable to set. With the variable pointing
at a checkout at the commits docs/firmware.md pins, the build must succeed with warnings as errors
and print the image's size. Fitting the board is enforced by the builds themselves: the Coral image
links against the SDK's linker script (a region overflow fails the link) and the Spresense port
static-asserts its buffers and arena against the 768 KiB it declares.
"""
import os
import re
import shutil
import subprocess

import pytest

from hostlink.emulator.firmware import FIRMWARE_DIR

SDK_VARS = {"coralmicro": "HOSTLINK_CORALMICRO_SDK", "spresense": "HOSTLINK_SPRESENSE_SDK"}


def _make(*args, timeout=60):
    return subprocess.run(["make", "-s", "-C", str(FIRMWARE_DIR), *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("board", sorted(SDK_VARS))
def test_port_builds_inside_its_sdk(board):
    var = SDK_VARS[board]
    sdk = os.environ.get(var)
    if not sdk:
        pytest.skip(f"set {var} to a {board} SDK checkout (with submodules, at the commit docs/firmware.md "
                    f"pins) to build this port: make -C firmware port BOARD={board} SDK=$" + var)
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs arm-none-eabi-gcc (tools/setup-firmware-toolchain.sh)")
    proc = _make("port", f"BOARD={board}", f"SDK={sdk}", timeout=3600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert re.search(r"image flash [\d.]+ KiB \(\d+ B\), RAM [\d.]+ KiB \(\d+ B\)", out), out[-2000:]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_port_without_board_or_sdk_says_what_to_give():
    proc = _make("port")
    assert proc.returncode != 0
    assert "BOARD=coralmicro|spresense and SDK=DIR" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("board,why", [("coralmicro", "not a coralmicro checkout"),
                                       ("spresense", "not a spresense checkout")])
def test_port_refuses_a_folder_that_is_not_the_sdk(tmp_path, board, why):
    proc = subprocess.run(["sh", str(FIRMWARE_DIR / "tools" / "build_port.sh"), board, str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and why in lines[0], proc.stderr


def test_port_refuses_a_missing_sdk_and_an_unknown_board(tmp_path):
    script = str(FIRMWARE_DIR / "tools" / "build_port.sh")
    proc = subprocess.run(["sh", script, "coralmicro", str(tmp_path / "nope")], capture_output=True, text=True)
    assert proc.returncode != 0 and "no SDK checkout at" in proc.stderr
    if shutil.which("arm-none-eabi-gcc") is not None:
        proc = subprocess.run(["sh", script, "imx500", str(tmp_path)], capture_output=True, text=True)
        assert proc.returncode != 0 and "unknown board imx500" in proc.stderr


def test_tflm_build_refuses_a_folder_that_is_not_tflite_micro(tmp_path):
    proc = subprocess.run(["sh", str(FIRMWARE_DIR / "tflm" / "build.sh"), str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0
    assert "is not a tflite-micro tree" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
