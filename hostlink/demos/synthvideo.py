"""Synthetic camera clips for the gaze demo: one procedural person (hostlink.datasets.synthetic)
in front of a camera, looking at known points, written as an ordinary video file.

The geometry is the generator's (GazeCapture's convention, selfie view), for any frame size: the
face crop spans FACE_WIDTH_CM at the head's distance under the camera's horizontal field of view.
Every frame draws the same person (same seed); only where the eyes look changes, so a clip is a
controlled experiment for the whole pipeline: face search, crop, grid, quantization, board.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..datasets import synthetic as syn
from .calibration import CalibrationSchedule, Screen

#: A person the Haar cascade finds on almost every frame (seed 1 of the generator's appearance draws).
DEFAULT_PERSON = 1


def head_box_px(head_x: float, head_y: float, distance: float, width: int, height: int) -> tuple[float, float, float]:
    """(left, top, side) in pixels of the face crop for a head at (head_x, head_y, distance) cm."""
    half_w = distance * np.tan(np.radians(syn.FRAME_HFOV_DEG) / 2)
    half_h = half_w * height / width
    side = syn.FACE_WIDTH_CM / (2 * half_w) * width
    cx = width / 2 * (1 + head_x / half_w)
    cy = height / 2 * (1 - head_y / half_h)
    return cx - side / 2, cy - side / 2, side


class Person:
    """Renders one synthetic person looking at screen points (cm), cached per distinct point."""

    def __init__(self, seed: int = DEFAULT_PERSON, width: int = 640, height: int = 480,
                 head=(0.0, 2.0, 40.0), background_seed: int | None = None):
        self.seed, self.width, self.height = seed, width, height
        self.head = tuple(float(v) for v in head)
        bg_rng = np.random.default_rng(seed + 1000 if background_seed is None else background_seed)
        bg = syn._background(bg_rng, max(width, height))[:height, :width]
        self.background = cv2.cvtColor(np.clip(bg, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
        self._cache: dict = {}

    def frame(self, target_cm, head=None) -> np.ndarray:
        """A BGR frame of the person looking at ``target_cm`` (x right, y up, cm from the camera),
        with the head at ``head`` = (x, y, distance) cm if given (default: the person's own)."""
        hx, hy, d = self.head if head is None else (float(v) for v in head)
        key = (round(float(target_cm[0]), 3), round(float(target_cm[1]), 3), round(hx, 3), round(hy, 3), round(d, 3))
        if key not in self._cache:
            yaw, pitch = np.arctan((key[0] - hx) / d), np.arctan((key[1] - hy) / d)
            x0, y0, side = head_box_px(hx, hy, d, self.width, self.height)
            s = int(round(side))
            face = syn.render_face(np.random.default_rng(self.seed), s, yaw, pitch, 0.0, 0.0)
            out = self.background.copy()
            xi, yi = int(round(x0)), int(round(y0))
            fx0, fy0 = max(0, -xi), max(0, -yi)
            x1, y1 = min(self.width, xi + s), min(self.height, yi + s)
            out[max(0, yi):y1, max(0, xi):x1] = cv2.cvtColor(face, cv2.COLOR_RGB2BGR)[fy0:fy0 + y1 - max(0, yi),
                                                                                       fx0:fx0 + x1 - max(0, xi)]
            if len(self._cache) > 512:
                self._cache.clear()
            self._cache[key] = out
        return self._cache[key]


def write_clip(path: str | Path, person: Person, targets_cm, fps: float = 30.0, heads=None) -> Path:
    """One frame per target (and per head position, if ``heads`` is given); returns the path
    (mp4v for .mp4, MJPG for .avi)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    w = cv2.VideoWriter(str(path), fourcc, fps, (person.width, person.height))
    if not w.isOpened():
        raise OSError(f"OpenCV cannot write {path}")
    try:
        for i, t in enumerate(targets_cm):
            w.write(person.frame(t, None if heads is None else heads[i]))
    finally:
        w.release()
    return path


def sweep_targets(screen: Screen, frames: int, hold: int = 15) -> np.ndarray:
    """Targets for ``frames`` frames: the nine calibration points in a loop, ``hold`` frames each."""
    pts = screen.nine_points()
    return np.array([pts[(i // hold) % len(pts)] for i in range(frames)])


def calibration_targets(schedule: CalibrationSchedule) -> np.ndarray:
    """A target per frame that follows a calibration schedule (eyes move at each dot's first frame)."""
    return np.array([schedule.points[schedule.at(i)[0]] for i in range(schedule.frames)])
