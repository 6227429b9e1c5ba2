"""The synthetic generators: reproducible, labels consistent with the geometry they draw."""
import numpy as np
import pytest

from hostlink.datasets import synthetic as syn
from hostlink.datasets.facegrid import GRID_CELLS, gaze_input, grid_embedding, quantize_input


def test_gaze_samples_are_deterministic_by_seed():
    a, b, c = syn.gaze_samples(6, seed=3), syn.gaze_samples(6, seed=3), syn.gaze_samples(6, seed=4)
    assert np.array_equal(a.faces, b.faces) and np.array_equal(a.targets, b.targets)
    assert not np.array_equal(a.faces, c.faces)
    assert a.faces.shape == (6, 112, 112, 3) and a.faces.dtype == np.uint8
    grey = syn.gaze_samples(4, seed=3, size=96, grey=True)
    assert grey.faces.shape == (4, 96, 96)


def test_gaze_targets_and_boxes_stay_in_their_declared_ranges():
    s = syn.gaze_samples(200, seed=1, size=32)
    assert np.all((s.targets[:, 0] >= syn.TARGET_X_CM[0]) & (s.targets[:, 0] <= syn.TARGET_X_CM[1]))
    assert np.all((s.targets[:, 1] >= syn.TARGET_Y_CM[0]) & (s.targets[:, 1] <= syn.TARGET_Y_CM[1]))
    x, y, w, h = s.boxes.T
    assert np.all(w > 0) and np.allclose(h, w * syn.FRAME_W / syn.FRAME_H)  # square in pixels
    assert np.all((x + w / 2 > 0) & (x + w / 2 < GRID_CELLS) & (y + h / 2 > 0) & (y + h / 2 < GRID_CELLS))


def test_face_grid_box_moves_and_shrinks_with_the_head():
    near, far = syn.face_grid_box(0, 0, 25), syn.face_grid_box(0, 0, 50)
    assert near[2] == pytest.approx(2 * far[2])  # twice as far, half as wide
    centre = near[0] + near[2] / 2
    assert centre == pytest.approx(GRID_CELLS / 2)
    right, up = syn.face_grid_box(4, 0, 30), syn.face_grid_box(0, 4, 30)
    assert right[0] > syn.face_grid_box(0, 0, 30)[0]  # selfie view: user's right is frame right
    assert up[1] < syn.face_grid_box(0, 0, 30)[1]  # up in the world is up (smaller row) in the frame


def _iris_x(face):
    """Column of the darkest blob (the pupils) in the eye band of a face crop."""
    grey = face.astype(np.float32).mean(-1)
    band = grey[int(0.3 * len(grey)):int(0.55 * len(grey))]
    return np.mean(np.argwhere(band < np.percentile(band, 1.5))[:, 1])


def test_iris_follows_the_eyes_rotation():
    size = 112
    left = syn.render_face(np.random.default_rng(5), size, np.radians(-30), 0.0, 0.0, 0.0)
    right = syn.render_face(np.random.default_rng(5), size, np.radians(30), 0.0, 0.0, 0.0)
    assert _iris_x(right) - _iris_x(left) > 4  # px at 112: the pupils moved right


def test_fundus_masks_are_thin_trees_inside_the_field_of_view():
    f = syn.fundus_samples(8, seed=2)
    assert f.images.shape == (8, 96, 96, 3) and f.masks.shape == (8, 96, 96)
    assert set(np.unique(f.masks)) <= {0, 1}
    assert np.all(f.masks <= f.fov)  # no vessel outside the lit disc
    frac = f.masks.sum((1, 2)) / f.fov.sum((1, 2))
    assert np.all((frac > 0.02) & (frac < 0.25))
    img = f.images.astype(np.float32).mean(-1)
    vessel = img[(f.masks == 1)].mean()
    background = img[(f.masks == 0) & (f.fov == 1)].mean()
    assert vessel < background  # vessels are drawn darker than the retina around them
    assert np.all(img[f.fov == 0] == 0)
    again = syn.fundus_samples(8, seed=2)
    assert np.array_equal(f.images, again.images) and np.array_equal(f.masks, again.masks)


def test_grid_embedding_spans_the_box():
    g = grid_embedding((0, 0, GRID_CELLS, GRID_CELLS), 8)
    assert g.shape == (8, 8, 2)
    assert g[0, 0].tolist() == [-1, -1] and g[-1, -1].tolist() == [1, 1]
    assert np.all(g[:, :, 0] == g[0, :, 0])  # plane 0 varies along columns only
    half = grid_embedding((12.5, 0, 12.5, 25), 5)
    assert half[0, 0, 0] == pytest.approx(0) and half[0, -1, 0] == pytest.approx(1)


def test_gaze_input_normalises_and_quantizes_with_the_tensors_own_parameters():
    face = np.full((16, 16, 3), 255, np.uint8)
    x = gaze_input(face, (5, 5, 10, 10))
    assert x.shape == (16, 16, 5) and np.allclose(x[..., :3], 1.0)
    grey = gaze_input(np.zeros((16, 16), np.uint8), (5, 5, 10, 10))
    assert grey.shape == (16, 16, 3) and np.allclose(grey[..., 0], -1.0)
    q = quantize_input(np.array([-70.0, 0.0, 1.2, 70.0]), 0.5, 3)
    assert q.tolist() == [-128, 3, 5, 127] and q.dtype == np.int8
    with pytest.raises(ValueError, match="square"):
        gaze_input(np.zeros((16, 8, 3), np.uint8), (0, 0, 1, 1))
