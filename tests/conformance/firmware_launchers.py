"""Launchers that hold the C board core (firmware/core) to this suite, next to the Python emulator.

``c-host``: firmware/ports/host built with ASan + UBSan, one fresh ``hl-host --pty`` per test. The
core's camera, admission and inference come from its helper process (the emulator's pieces), so
every test runs, captures included. A sanitizer report on hl-host's stderr fails the test even
when the protocol exchange itself passed.

``c-qemu-m7``: the Cortex-M7 cross build booted in ``qemu-system-arm -M mps2-an500`` with its UART
on a pty. That image has no camera and no inference engine, so it runs the protocol part
(test_conformance_protocol.py) minus the tests that need frames; the rest are skipped with the
reason. Skipped entirely when qemu-system-arm or arm-none-eabi-gcc is missing.

``c-qemu-m7-tflm`` / ``c-qemu-m4f-tflm``: the same port linked with tflite-micro + CMSIS-NN
(engine_tflm.cc), on mps2-an500 (Cortex-M7) and mps2-an386 (Cortex-M4F). It admits and runs models
on host inputs, so it runs the protocol part and the model part; only the tests that need a camera
are skipped. The image needs the library that firmware/tflm/build.sh builds from a tflite-micro
checkout; where it has not been built (CI), these are skipped with the command that builds it.
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
_QEMU_REASON = "needs qemu-system-arm and arm-none-eabi-gcc (tools/setup-firmware-toolchain.sh)"

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


#: Tests that need a sensor; the tflite-micro qemu image runs frames on host inputs only.
QEMU_TFLM_NEEDS_CAMERA = {
    "test_repeated_capture_is_not_run_twice", "test_replies_larger_than_the_hosts_maximum_are_fragmented",
    "test_capture_count_period_and_stage_order", "test_capture_count_zero_is_refused",
}
#: cpu -> the qemu machine that models it
QEMU_MACHINES = {"cortex-m7": "mps2-an500", "cortex-m4f": "mps2-an386"}


def _make(target: str) -> Path:
    proc = subprocess.run(["make", "-C", str(FIRMWARE_DIR), target], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"building {target} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return FIRMWARE_DIR / target


def tflm_built(cpu: str) -> bool:
    """Whether firmware/tflm/build.sh has built tflite-micro for this CPU."""
    return (FIRMWARE_DIR / "build" / "tflm" / cpu / "tflm.mk").is_file()


def tflm_skip_reason(cpu: str) -> str:
    return (f"no tflite-micro build for {cpu}: run `sh firmware/tflm/build.sh TFLITE_MICRO_DIR {cpu}` "
            "with a tflite-micro checkout (docs/firmware.md, 'The model under QEMU')")


@contextlib.contextmanager
def qemu_serial(machine: str, image: Path):
    """Boot image in qemu-system-arm with its UART on a pty; yield the pty's path."""
    proc = subprocess.Popen(["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none",
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


@contextlib.contextmanager
def c_qemu_m7(request):
    node = request.node
    if node.module.__name__ != "test_conformance_protocol":
        pytest.skip("the qemu image runs the protocol part only (no camera, no inference engine)")
    if node.originalname in QEMU_NEEDS_FRAMES:
        pytest.skip(f"qemu image: {QEMU_NEEDS_FRAMES[node.originalname]}")
    with qemu_serial("mps2-an500", _make("build/cortex-m7/hl-qemu.elf")) as url:
        yield url


def qemu_tflm_image(cpu: str) -> Path:
    """Build (if needed) and return the tflite-micro qemu image for cpu; skip where it cannot be."""
    if not _HAVE_QEMU:
        pytest.skip(_QEMU_REASON)
    if not tflm_built(cpu):
        pytest.skip(tflm_skip_reason(cpu))
    return _make(f"build/{cpu}/hl-qemu-tflm.elf")


def _c_qemu_tflm(cpu: str):
    @contextlib.contextmanager
    def launch(request):
        if request.node.originalname in QEMU_TFLM_NEEDS_CAMERA:
            pytest.skip("qemu image: needs a camera (this image runs frames on host inputs)")
        with qemu_serial(QEMU_MACHINES[cpu], qemu_tflm_image(cpu)) as url:
            yield url
    return launch


FIRMWARE_LAUNCHERS = [
    pytest.param(c_host_port, id="c-host",
                 marks=pytest.mark.skipif(not _HAVE_CC, reason="needs make and a C compiler")),
    pytest.param(c_qemu_m7, id="c-qemu-m7", marks=pytest.mark.skipif(not _HAVE_QEMU, reason=_QEMU_REASON)),
    *(pytest.param(_c_qemu_tflm(cpu), id=f"c-qemu-{cpu[len('cortex-'):]}-tflm",
                   marks=pytest.mark.skipif(not (_HAVE_QEMU and tflm_built(cpu)),
                                            reason=tflm_skip_reason(cpu) if _HAVE_QEMU else _QEMU_REASON))
      for cpu in QEMU_MACHINES),
]
