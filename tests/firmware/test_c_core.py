"""The C board core's own tests (firmware/tests: parser, model store, dispatcher, golden vectors)
under ASan + UBSan, and the Cortex-M builds against the size budget."""
import shutil
import subprocess
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
needs_cc = pytest.mark.skipif(shutil.which("make") is None or shutil.which("cc") is None,
                              reason="needs make and a C compiler")
needs_arm = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                               reason="needs arm-none-eabi-gcc (tools/setup-firmware-toolchain.sh)")


def _make(*targets: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-C", str(FIRMWARE), *targets], capture_output=True, text=True)


@needs_cc
def test_c_unit_tests_and_golden_vectors_pass_under_sanitizers():
    proc = _make("test")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    summary = [line for line in proc.stdout.splitlines() if line.startswith("firmware tests:")]
    assert summary and summary[-1].endswith(" 0 failures"), proc.stdout[-2000:]
    vectors = len(list((FIRMWARE.parent / "protocols" / "vectors").glob("*.hex")))
    assert f" {vectors} vectors," in summary[-1]  # every golden vector was decoded in C
    # the model store's power-cut sweep (test_store.c) ran and never lost the model
    store = [line for line in proc.stdout.splitlines() if line.startswith("model store: power cut at each of")]
    assert store and store[-1].endswith(" 0 corrupt or missing"), proc.stdout[-2000:]


@needs_cc
@needs_arm
def test_cortex_m_builds_fit_the_budget():
    proc = _make("cross", "size")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Cortex-M7 (Coral Micro)" in proc.stdout and "Cortex-M4F (Spresense)" in proc.stdout
    assert "OVER BUDGET" not in proc.stdout + proc.stderr
