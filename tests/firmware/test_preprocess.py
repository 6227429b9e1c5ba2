"""The board ports' camera preprocessing (firmware/ports/common/hl_preprocess.c) produces the very
tensor the emulator's prepare_input produces from the same pixels."""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hostlink.emulator import camera as cam
from hostlink.protocols import DType

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which("cc") is None,
                                reason="needs make and a C compiler")


@pytest.fixture(scope="module")
def cli() -> Path:
    proc = subprocess.run(["make", "-C", str(FIRMWARE), "build/tests/hl-pre-cli"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return FIRMWARE / "build" / "tests" / "hl-pre-cli"


@pytest.mark.parametrize("dtype,shape,scale,zp", [
    (np.int8, (1, 112, 112, 5), 0.007843137718737125, -1),  # TinyTracker: RGB + two grid planes
    (np.int8, (1, 8, 8, 3), 0.0078125, 0),
    (np.uint8, (1, 24, 32, 3), 0.0078125, 128),
    (np.int8, (1, 16, 16, 1), 0.01, 3),  # grey
    (np.float32, (1, 10, 12, 4), 0.0, 0),
])
def test_matches_the_emulator_on_camera_pixels(cli, dtype, shape, scale, zp):
    _, h, w, c = shape
    frame = cam.TestPattern(w, h).read(7)  # at the model's size: the resize is the identity
    want = cam.prepare_input(frame, shape, dtype, scale, zp)
    code = {np.int8: DType.INT8, np.uint8: DType.UINT8, np.float32: DType.FLOAT32}[dtype]
    proc = subprocess.run([str(cli), str(int(code)), str(h), str(w), str(c), repr(scale), str(zp)],
                          input=np.ascontiguousarray(frame).tobytes(), capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    got = np.frombuffer(proc.stdout, dtype=dtype).reshape(shape)
    np.testing.assert_array_equal(got, want)
