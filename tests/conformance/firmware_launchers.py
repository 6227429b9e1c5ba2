"""Launchers that hold the C board core (firmware/core) to this suite, next to the Python emulator.

``c-host``: firmware/ports/host built with ASan + UBSan, one fresh ``hl-host --pty`` per test. The
core's camera, admission and inference come from its helper process (the emulator's pieces), so
every test runs, captures included. A sanitizer report on hl-host's stderr fails the test even
when the protocol exchange itself passed.

``c-qemu-m7``: the Cortex-M7 cross build booted in ``qemu-system-arm -M mps2-an500`` with its UART
on a pty. That image has no camera and no inference engine, so it runs the protocol part
(test_conformance_protocol.py) minus the tests that need frames; the rest are skipped with the
reason. Skipped entirely when qemu-system-arm or arm-none-eabi-gcc is missing.
"""
import contextlib
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hostlink.emulator.firmware import FIRMWARE_DIR, start_host_port

_HAVE_CC = shutil.which("make") is not None and shutil.which("cc") is not None
_HAVE_QEMU = shutil.which("qemu-system-arm") is not None and shutil.which("arm-none-eabi-gcc") is not None

#: Tests of the protocol module that need a frame (a stage list, a capture); the qemu image has none.
QEMU_NEEDS_FRAMES = {
    "test_handshake": "DEVICE_INFO.stages is empty: the qemu image runs no frames",
    "test_repeated_capture_is_not_run_twice": "needs a camera and an inference engine",
    "test_replies_larger_than_the_hosts_maximum_are_fragmented": "needs a camera and an inference engine",
}


@contextlib.contextmanager
def c_host_port(request):
    fw = start_host_port("coralmicro", sanitize=True)
    try:
        yield fw.url
    finally:
        status = fw.close()
        report = fw.sanitizer_report()
        if report:
            pytest.fail(f"hl-host (ASan/UBSan build) reported an error:\n{report}")
        if status not in (0, None):
            pytest.fail(f"hl-host exited with status {status}:\n{fw.stderr_text()}")


def _qemu_image() -> Path:
    image = FIRMWARE_DIR / "build" / "cortex-m7" / "hl-qemu.elf"
    proc = subprocess.run(["make", "-C", str(FIRMWARE_DIR), "build/cortex-m7/hl-qemu.elf"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"building the Cortex-M7 image failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return image


@contextlib.contextmanager
def c_qemu_m7(request):
    node = request.node
    if node.module.__name__ != "test_conformance_protocol":
        pytest.skip("the qemu image runs the protocol part only (no camera, no inference engine)")
    if node.originalname in QEMU_NEEDS_FRAMES:
        pytest.skip(f"qemu image: {QEMU_NEEDS_FRAMES[node.originalname]}")
    image = _qemu_image()
    proc = subprocess.Popen(["qemu-system-arm", "-M", "mps2-an500", "-nographic", "-monitor", "none",
                             "-serial", "pty", "-kernel", str(image)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"(/dev/pts/\d+)", line)
        if not m:
            pytest.fail(f"qemu-system-arm did not report its serial pty: {line!r}")
        time.sleep(0.05)  # the image sets up its UART within microseconds of reset; be generous
        yield m.group(1)
    finally:
        proc.terminate()
        proc.wait(10)


FIRMWARE_LAUNCHERS = [
    pytest.param(c_host_port, id="c-host",
                 marks=pytest.mark.skipif(not _HAVE_CC, reason="needs make and a C compiler")),
    pytest.param(c_qemu_m7, id="c-qemu-m7",
                 marks=pytest.mark.skipif(not _HAVE_QEMU,
                                          reason="needs qemu-system-arm and arm-none-eabi-gcc "
                                                 "(tools/setup-firmware-toolchain.sh)")),
]
