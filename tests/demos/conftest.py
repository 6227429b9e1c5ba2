"""Synthetic clips and tiny models for the demo tests, made once per session."""
import numpy as np
import pytest

from hostlink.demos.calibration import CalibrationSchedule, Screen
from hostlink.demos.synthvideo import Person, calibration_targets, write_clip

#: The generator's own camera (portrait 480x640, 60 degrees across): the frame geometry the
#: bundled gaze models were trained on, so the grid embedding is in distribution.
FRAME = dict(width=480, height=640)

#: Where the synthetic person looks in the direction clip: (name, target cm, frames).
DIRECTION_SEGMENTS = (("left", (-10.0, -8.0), 8), ("right", (10.0, -8.0), 8),
                      ("up", (0.0, 1.0), 8), ("down", (0.0, -17.0), 8))


@pytest.fixture(scope="session")
def direction_clip(tmp_path_factory):
    """The same person looks left, right, up, then down; returns (path, labels per frame)."""
    targets, labels = [], []
    for name, target, n in DIRECTION_SEGMENTS:
        targets += [target] * n
        labels += [name] * n
    path = tmp_path_factory.mktemp("clips") / "direction.avi"
    write_clip(path, Person(**FRAME), targets)
    return path, labels


@pytest.fixture(scope="session")
def calibration_clip(tmp_path_factory):
    """A clip that follows the CLI's calibration schedule at 30 fps, then 10 frames looking at the centre."""
    fps = 30.0
    sched = CalibrationSchedule(Screen().nine_points(), settle=max(5, int(fps * 0.7)), collect=max(5, int(fps * 0.7)))
    targets = list(calibration_targets(sched)) + [np.array(Screen().nine_points()[4])] * 10
    path = tmp_path_factory.mktemp("clips") / "calibration.avi"
    write_clip(path, Person(**FRAME), targets, fps=fps)
    return path, sched


@pytest.fixture(scope="session")
def tiny_segmenter(tmp_path_factory):
    """A 16x16x3 -> 16x16x1 INT8 model ending in LOGISTIC (a segmentation-shaped graph, not trained)."""
    from hostlink.testing.synth_models import calibrated

    def graph(g):
        x = g.input((1, 16, 16, 3), scale=1 / 128)
        x = g.conv2d(x, 8, 3)
        x = g.conv2d(x, 1, 1, activation="NONE", name="head")
        x = g.unary("LOGISTIC", x)
        return [g.dequantize(x)]

    path = tmp_path_factory.mktemp("models") / "tiny_segmenter.tflite"
    path.write_bytes(calibrated(graph, seed=3))
    return path
