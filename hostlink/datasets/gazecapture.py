"""Loader for a local copy of GazeCapture (papers.md §4), in its published per-subject layout:

    ROOT/<subject>/info.json        {"Dataset": "train"|"val"|"test", ...}
    ROOT/<subject>/frames.json      ["00000.jpg", ...]
    ROOT/<subject>/appleFace.json   {"X": [...], "Y": [...], "W": [...], "H": [...], "IsValid": [...]}
    ROOT/<subject>/faceGrid.json    same keys, in cells of the 25x25 grid
    ROOT/<subject>/dotInfo.json     {"XCam": [...], "YCam": [...], ...}  (cm from the camera)
    ROOT/<subject>/frames/00000.jpg

GazeCapture is research-use only and cannot be redistributed: hostlink ships no part of it. The
face-grid values are used as stored; the face box is in frame pixels and may leave the frame, so
the crop is padded with black.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError
from .synthetic import GazeSet

SPLITS = ("train", "val", "test")


def _json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"GazeCapture: cannot read {path}: {err}",
                          hint="point --data at the folder holding the per-subject folders") from err


def index(root, split: str) -> list[tuple[Path, str, int]]:
    """(subject dir, frame file, frame index) of every frame with a valid face and face grid."""
    root = Path(root)
    if split not in SPLITS:
        raise ConfigError(f"GazeCapture split {split!r} unknown", hint=f"use one of {', '.join(SPLITS)}")
    subjects = sorted(p for p in root.iterdir() if (p / "info.json").is_file()) if root.is_dir() else []
    if not subjects:
        raise ConfigError(f"no GazeCapture subject folders (with info.json) under {root}",
                          hint="unpack GazeCapture so that ROOT/00002/info.json exists")
    out = []
    for subj in subjects:
        if _json(subj / "info.json").get("Dataset") != split:
            continue
        frames = _json(subj / "frames.json")
        face_ok = _json(subj / "appleFace.json")["IsValid"]
        grid_ok = _json(subj / "faceGrid.json")["IsValid"]
        out += [(subj, f, i) for i, f in enumerate(frames) if face_ok[i] and grid_ok[i]]
    return out


def load(root, split: str = "train", size: int = 112, grey: bool = False,
         limit: int | None = None) -> GazeSet:
    """Face crops, face-grid boxes and XCam/YCam targets; ``limit`` takes an evenly spread subset."""
    entries = index(root, split)
    if not entries:
        raise ConfigError(f"GazeCapture: no valid frames in split {split!r} under {root}")
    if limit is not None and limit < len(entries):
        pick = np.linspace(0, len(entries) - 1, limit).round().astype(int)
        entries = [entries[i] for i in pick]
    faces = np.empty((len(entries), size, size) if grey else (len(entries), size, size, 3), np.uint8)
    boxes = np.empty((len(entries), 4), np.float32)
    targets = np.empty((len(entries), 2), np.float32)
    cache: dict = {}
    for n, (subj, frame, i) in enumerate(entries):
        if subj not in cache:
            cache.clear()
            cache[subj] = (_json(subj / "appleFace.json"), _json(subj / "faceGrid.json"),
                           _json(subj / "dotInfo.json"))
        face, grid, dot = cache[subj]
        img = cv2.imread(str(subj / "frames" / frame), cv2.IMREAD_COLOR)
        if img is None:
            raise ConfigError(f"GazeCapture: cannot decode {subj / 'frames' / frame}")
        crop = crop_box(img, face["X"][i], face["Y"][i], face["W"][i], face["H"][i])
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        faces[n] = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if grey else cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        boxes[n] = grid["X"][i], grid["Y"][i], grid["W"][i], grid["H"][i]
        targets[n] = dot["XCam"][i], dot["YCam"][i]
    return GazeSet(faces, boxes, targets, np.full(len(entries), np.nan, np.float32))


def crop_box(img: np.ndarray, x, y, w, h) -> np.ndarray:
    """The (x, y, w, h) pixel box of ``img``, zero-padded where it leaves the image."""
    x, y, w, h = (int(round(float(v))) for v in (x, y, w, h))
    if w <= 0 or h <= 0:
        raise ConfigError(f"GazeCapture: empty face box {(x, y, w, h)}")
    out = np.zeros((h, w) + img.shape[2:], img.dtype)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(img.shape[1], x + w), min(img.shape[0], y + h)
    if x1 > x0 and y1 > y0:
        out[y0 - y:y1 - y, x0 - x:x1 - x] = img[y0:y1, x0:x1]
    return out
