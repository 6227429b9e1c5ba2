"""The gaze input tensor: bit-identical to the training pipeline's float path, and the face box
geometry agrees with the synthetic generator's."""
import numpy as np
import pytest

from hostlink.datasets import synthetic as syn
from hostlink.datasets.facegrid import gaze_input, quantize_input
from hostlink.demos.facedetect import Box, FaceTracker, crop_from_face
from hostlink.demos.gaze import search_image
from hostlink.demos.gazeinput import GazeInputBuilder, crop_square, grid_box
from hostlink.demos.synthvideo import Person, head_box_px
from hostlink.errors import ConfigError
from hostlink.types import TensorSpec


@pytest.mark.parametrize("shape,scale,zp", [((1, 112, 112, 5), 0.007843137718737125, -1),
                                            ((1, 96, 96, 3), 0.0078125, 3),
                                            ((1, 32, 32, 5), 0.011, -7)])
def test_builder_matches_the_float_path_bit_for_bit(shape, scale, zp):
    spec = TensorSpec("in", "int8", shape, scale, zp)
    b = GazeInputBuilder(spec)
    rng = np.random.default_rng(1)
    size = shape[1]
    for _ in range(10):
        face = rng.integers(0, 256, (size, size) if shape[3] == 3 else (size, size, 3), dtype=np.uint8)
        box = (rng.uniform(-5, 20), rng.uniform(-5, 20), rng.uniform(1, 20), rng.uniform(1, 20))  # grid may clip
        got = b.from_face(face, box)
        want = quantize_input(gaze_input(face, box), scale, zp)[None]
        assert got.dtype == np.int8 and got.shape == shape
        assert np.array_equal(got, want)


def test_builder_refuses_what_is_not_a_gaze_input():
    with pytest.raises(ConfigError, match="gaze model"):
        GazeInputBuilder(TensorSpec("in", "int8", (1, 96, 96, 1), 0.01, 0))
    with pytest.raises(ConfigError, match="INT8"):
        GazeInputBuilder(TensorSpec("in", "float32", (1, 112, 112, 5)))


def test_crop_outside_the_frame_is_padded_black():
    frame = np.full((40, 60, 3), 200, np.uint8)
    out = crop_square(frame, Box(-20, -20, 40, 40), 40)
    assert out.shape == (40, 40, 3)
    assert (out[:20, :20] == 0).all() and (out[20:, 20:] == 200).all()


def test_grid_box_agrees_with_the_generator_geometry():
    # A head the generator places on its portrait frame: our pixel->cell mapping must give back its box.
    for hx, hy, d in [(0, 0, 35), (4, -3, 28), (-5, 5, 44)]:
        want = syn.face_grid_box(hx, hy, d)
        x0, y0, side = head_box_px(hx, hy, d, syn.FRAME_W, syn.FRAME_H)
        got = grid_box(Box(x0, y0, side, side), syn.FRAME_W, syn.FRAME_H)
        assert np.allclose(got, want, atol=1e-3)


def _iou(a: Box, b: Box) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / (a.w * a.h + b.w * b.h - inter)


def test_tracker_finds_the_synthetic_face_and_the_crop_matches_the_training_crop():
    person = Person()
    tracker = FaceTracker()
    heads = [(0, 2, 40), (1, 2, 40), (2, 1.5, 39), (3, 1, 38), (3, 1, 38), (2, 1.5, 39.5), (1, 2.5, 41)]
    ious = []
    for head in heads:
        grey, k = search_image(person.frame((0, -8), head))
        face = tracker.update(grey)
        assert face is not None
        crop = crop_from_face(Box(face.x * k, face.y * k, face.w * k, face.h * k))
        x0, y0, side = head_box_px(*head, 640, 480)
        ious.append(_iou(crop, Box(x0, y0, side, side)))
    assert min(ious) > 0.75, ious
    assert tracker.searches == 1  # found once, then followed


def test_missing_cascade_says_how_to_fix_it(monkeypatch, tmp_path):
    import cv2

    from hostlink.demos import facedetect

    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path))
    with pytest.raises(ConfigError, match="opencv-python-headless"):
        facedetect.load_cascade()
