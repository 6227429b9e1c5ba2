"""TinyTracker's input: a face crop plus two "grid embedding" planes (papers.md §1).

The planes say where the face box sits in the full camera frame, on GazeCapture's 25x25 face
grid, as CoordConv-style ramps in [-1, 1]. Everything here is numpy only, so the runtime (demos,
emulator) builds exactly the tensor the training pipeline built.
"""
from __future__ import annotations

import numpy as np

#: GazeCapture's face grid is 25x25 cells over the whole camera frame.
GRID_CELLS = 25


def grid_embedding(box, size: int) -> np.ndarray:
    """Two (size, size) ramps for face-grid box ``(x, y, w, h)`` in grid cells, as (size, size, 2).

    Plane 0 runs across columns from the box's left to its right edge, plane 1 down the rows, both
    mapped from [0, 25] cells to [-1, 1] (``linspace(x*2/25-1, (x+w)*2/25-1, W)``).
    """
    x, y, w, h = (float(v) for v in box)
    xs = np.linspace(x * 2 / GRID_CELLS - 1, (x + w) * 2 / GRID_CELLS - 1, size, dtype=np.float32)
    ys = np.linspace(y * 2 / GRID_CELLS - 1, (y + h) * 2 / GRID_CELLS - 1, size, dtype=np.float32)
    out = np.empty((size, size, 2), np.float32)
    out[..., 0] = xs[None, :]
    out[..., 1] = ys[:, None]
    return np.clip(out, -1.0, 1.0)


def gaze_input(face: np.ndarray, box) -> np.ndarray:
    """Float model input: ``face/127.5 - 1`` (RGB or grey, HxWx3 or HxW) plus the grid planes.

    A 3-channel face gives the 5-channel TinyTracker input, a grey one the 3-channel TinyTrackerS
    input. The face must already be square at the model's resolution.
    """
    face = np.asarray(face)
    if face.ndim == 2:
        face = face[..., None]
    if face.shape[0] != face.shape[1]:
        raise ValueError(f"face crop must be square, got {face.shape[:2]}")
    img = face.astype(np.float32) / 127.5 - 1.0
    return np.concatenate([img, grid_embedding(box, face.shape[0])], axis=-1)


def gaze_inputs(faces: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Batch version of :func:`gaze_input`: (N, S, S[, 3]) faces and (N, 4) boxes."""
    return np.stack([gaze_input(f, b) for f, b in zip(faces, boxes)])


def quantize_input(x: np.ndarray, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """Float input -> the model's integer input using the tensor's own scale and zero point.

    The public TinyTracker webcam demo fed ``pixel-127.5`` as raw int8 and ignored both, which pins
    predictions to the screen centre; this is the correct mapping.
    """
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, np.float32) / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)
