"""Loaders for the real dataset layouts, exercised on small copies written in those layouts."""
import json

import cv2
import numpy as np
import pytest

from hostlink.datasets import chase_db1, gazecapture, synthetic
from hostlink.errors import ConfigError


def _subject(root, name, split, n, valid):
    d = root / name
    (d / "frames").mkdir(parents=True)
    rng = np.random.default_rng(len(name))
    frames = [f"{i:05d}.jpg" for i in range(n)]
    for f in frames:
        cv2.imwrite(str(d / "frames" / f), rng.integers(0, 256, (64, 48, 3), dtype=np.uint8))
    box = {"X": [4.0] * n, "Y": [10.0] * n, "W": [30.0] * n, "H": [30.0] * n, "IsValid": valid}
    grid = {"X": [5] * n, "Y": [6] * n, "W": [10] * n, "H": [9] * n, "IsValid": [1] * n}
    dot = {"XCam": [float(i) for i in range(n)], "YCam": [-float(i) for i in range(n)]}
    for fname, obj in (("info.json", {"Dataset": split, "TotalFrames": n}), ("frames.json", frames),
                       ("appleFace.json", box), ("faceGrid.json", grid), ("dotInfo.json", dot)):
        (d / fname).write_text(json.dumps(obj))


def test_gazecapture_reads_valid_frames_of_a_split(tmp_path):
    _subject(tmp_path, "00002", "train", 4, [1, 0, 1, 1])
    _subject(tmp_path, "00003", "val", 3, [1, 1, 1])
    idx = gazecapture.index(tmp_path, "train")
    assert [(e[0].name, e[1]) for e in idx] == [("00002", "00000.jpg"), ("00002", "00002.jpg"), ("00002", "00003.jpg")]
    s = gazecapture.load(tmp_path, "train", size=32)
    assert s.faces.shape == (3, 32, 32, 3) and s.boxes.tolist()[0] == [5, 6, 10, 9]
    assert s.targets[:, 0].tolist() == [0, 2, 3] and s.targets[:, 1].tolist() == [0, -2, -3]
    grey = gazecapture.load(tmp_path, "val", size=16, grey=True, limit=2)
    assert grey.faces.shape == (2, 16, 16)


def test_gazecapture_errors_name_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="info.json"):
        gazecapture.index(tmp_path, "train")
    with pytest.raises(ConfigError, match="split"):
        gazecapture.index(tmp_path, "holdout")


def test_face_box_leaving_the_frame_is_padded():
    img = np.full((10, 10, 3), 200, np.uint8)
    crop = gazecapture.crop_box(img, -5, -5, 10, 10)
    assert crop.shape == (10, 10, 3)
    assert np.all(crop[:5, :5] == 0) and np.all(crop[5:, 5:] == 200)


def test_chase_db1_pairs_images_with_labels_and_splits_by_child(tmp_path):
    f = synthetic.fundus_samples(4, seed=9, size=200)
    for k, (subj, eye) in enumerate([(1, "L"), (1, "R"), (11, "L"), (12, "R")]):
        stem = f"Image_{subj:02d}{eye}"
        cv2.imwrite(str(tmp_path / f"{stem}.jpg"), cv2.cvtColor(f.images[k], cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(tmp_path / f"{stem}_1stHO.png"), f.masks[k] * 255)
    images = chase_db1.load(tmp_path)
    assert [im.name for im in images] == ["Image_01L", "Image_01R", "Image_11L", "Image_12R"]
    assert np.array_equal(images[0].mask, f.masks[0])
    # The lit disc is found from the image itself (the dataset ships no FOV masks).
    assert np.mean(images[0].fov == f.fov[0]) > 0.97
    train, held = chase_db1.split(images)
    assert {im.subject for im in train} == {1} and {im.subject for im in held} == {11, 12}
    x, y, fov = chase_db1.patches(train, 48, 5, seed=1)
    assert x.shape == (5, 48, 48, 3) and y.shape == fov.shape == (5, 48, 48)
    assert set(np.unique(y)) <= {0, 1} and np.all(fov[:, 24, 24] == 1)


def test_chase_db1_missing_label_is_reported(tmp_path):
    cv2.imwrite(str(tmp_path / "Image_01L.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match="1stHO"):
        chase_db1.load(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no CHASE_DB1 images"):
        chase_db1.load(empty)
    with pytest.raises(ConfigError, match="not a folder"):
        chase_db1.load(tmp_path / "missing")
