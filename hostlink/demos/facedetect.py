"""Face boxes for TinyTracker from OpenCV's frontal-face Haar cascade (it ships in opencv-python's
``cv2.data``, so nothing is downloaded), as the TinyTracker authors' own webcam demo did.

A full-frame search is slow (over 10 ms even on a 160-pixel-wide copy of the frame: every window
near a face runs deep into the cascade), so it runs only while no face is tracked; a tracked face
is searched for in a window around its last box, scaled so the face is ``track_face_px`` wide,
at three scales, which costs about a millisecond.
The tracker can run on its own thread (``AsyncFaceTracker``): OpenCV releases the GIL, so the
search overlaps the board's inference instead of adding to every frame's latency.
"""
from __future__ import annotations

import os
import threading
from typing import NamedTuple

import cv2
import numpy as np

from ..errors import ConfigError

#: alt2 finds more of the synthetic faces than the "default" cascade and costs less per window.
CASCADE = "haarcascade_frontalface_alt2.xml"
#: Where the cascade's box sits in the square face crop the gaze models were trained on, as
#: (left, top, width) in crop widths. Measured on frames from hostlink.datasets.synthetic, whose
#: crop spans FACE_WIDTH_CM: over 9 people the cascade box starts ~8 % in and is ~86 % as wide. GazeCapture's
#: (Apple detector) face boxes are framed about as loosely, so the same factors serve real faces.
BOX_IN_CROP = (0.08, 0.08, 0.86)


class Box(NamedTuple):
    x: float
    y: float
    w: float
    h: float

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def ints(self) -> tuple[int, int, int, int]:
        return int(round(self.x)), int(round(self.y)), int(round(self.w)), int(round(self.h))


def load_cascade(name: str = CASCADE):
    """The cascade from OpenCV's own package data."""
    if not hasattr(cv2, "CascadeClassifier"):
        raise ConfigError(f"OpenCV {cv2.__version__} has no Haar cascade classifier (OpenCV 5 moved it and its "
                          "cascade files out of the main package)",
                          "install OpenCV 4: pip install 'opencv-python-headless>=4.8,<5'")
    folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise ConfigError(f"the face cascade {name} is not in OpenCV's data folder {folder or '(none)'}",
                          "install an OpenCV 4 wheel that ships cv2/data: pip install 'opencv-python-headless>=4.8,<5'")
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise ConfigError(f"OpenCV could not load the face cascade {path}", "reinstall opencv-python-headless")
    return cascade


def crop_from_face(face: Box) -> Box:
    """The square model crop (frame pixels) around a cascade face box."""
    left, top, width = BOX_IN_CROP
    side = face.w / width
    return Box(face.x - left * side, face.y - top * side, side, side)


class HaarFaceDetector:
    """Frontal faces in a grey frame: ``find`` searches everywhere, ``refine`` near a known box."""

    def __init__(self, search_width: int = 160, track_face_px: int = 24, min_face_frac: float = 0.12,
                 cascade: str = CASCADE):
        self.cascade = load_cascade(cascade)
        self.search_width = search_width
        self.track_face_px = track_face_px
        self.min_face_frac = min_face_frac

    def find(self, grey: np.ndarray) -> Box | None:
        h, w = grey.shape[:2]
        k = min(1.0, self.search_width / w)
        small = cv2.resize(grey, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA) \
            if k < 1 else grey
        smallest = max(20, int(self.min_face_frac * min(w, h) * k))
        found = self.cascade.detectMultiScale(small, scaleFactor=1.1, minNeighbors=3, minSize=(smallest, smallest))
        if len(found) == 0:
            return None
        x, y, fw, fh = max(found, key=lambda r: r[2] * r[3])
        return Box(x / k, y / k, fw / k, fh / k)

    def refine(self, grey: np.ndarray, prev: Box) -> Box | None:
        h, w = grey.shape[:2]
        margin = 0.5 * prev.w
        x0, y0 = max(0, int(prev.x - margin)), max(0, int(prev.y - margin))
        x1, y1 = min(w, int(prev.x + prev.w + margin)), min(h, int(prev.y + prev.h + margin))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        k = self.track_face_px / prev.w
        roi = cv2.resize(grey[y0:y1, x0:x1], None, fx=k, fy=k, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
        lo, hi = int(self.track_face_px * 0.8), int(self.track_face_px * 1.25) + 1
        found = self.cascade.detectMultiScale(roi, scaleFactor=1.15, minNeighbors=2, minSize=(lo, lo), maxSize=(hi, hi))
        if len(found) == 0:
            return None
        pcx, pcy = (prev.x - x0) * k + prev.w * k / 2, (prev.y - y0) * k + prev.h * k / 2
        fx, fy, fw, fh = min(found, key=lambda r: (r[0] + r[2] / 2 - pcx) ** 2 + (r[1] + r[3] / 2 - pcy) ** 2)
        return Box(x0 + fx / k, y0 + fy / k, fw / k, fh / k)


class FaceTracker:
    """Keeps one face: refines it each frame, smooths the box, holds it through short misses."""

    def __init__(self, detector: HaarFaceDetector | None = None, hold_frames: int = 10, smooth: float = 0.5):
        self.detector = detector or HaarFaceDetector()
        self.hold_frames = hold_frames
        self.smooth = smooth  # weight of the newest detection
        self.box: Box | None = None
        self.misses = 0
        self.detections = 0
        self.searches = 0

    def update(self, grey: np.ndarray) -> Box | None:
        """The face box after this frame (None: no face, or lost for more than hold_frames)."""
        if self.box is None:
            self.searches += 1
            found = self.detector.find(grey)
        else:
            found = self.detector.refine(grey, self.box)
        if found is None:
            self.misses += 1
            if self.misses > self.hold_frames:
                self.box = None
            return self.box
        self.detections += 1
        self.misses = 0
        prev = self.box
        if prev is None or abs(found.center[0] - prev.center[0]) > 0.5 * prev.w or abs(found.w - prev.w) > 0.3 * prev.w:
            self.box = found  # a new face or a jump: no smoothing across it
        else:
            a = self.smooth
            self.box = Box(*(a * n + (1 - a) * o for n, o in zip(found, prev)))
        return self.box


class AsyncFaceTracker:
    """A FaceTracker on its own thread, fed the newest grey frame; ``box`` is its latest answer.

    Frames that arrive while a search runs replace each other, so the tracker never falls behind;
    the box it reports is at most one search old.
    """

    def __init__(self, tracker: FaceTracker | None = None):
        self.tracker = tracker or FaceTracker()
        self.box: Box | None = None
        self.busy_s = 0.0  # wall time spent searching
        self.busy_cpu_s = 0.0  # CPU time of the search thread
        self.runs = 0
        self._pending: np.ndarray | None = None
        self._cv = threading.Condition()
        self._stop = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="face-tracker", daemon=True)
        self._thread.start()

    def submit(self, grey: np.ndarray) -> Box | None:
        """Hand over a frame (not modified afterwards by the caller); returns the latest box."""
        if self._error is not None:
            raise self._error
        with self._cv:
            self._pending = grey
            self._cv.notify()
        return self.box

    def wait_idle(self, timeout: float = 5.0) -> Box | None:
        """Block until the frame handed over last has been searched (for a first box)."""
        with self._cv:
            self._cv.wait_for(lambda: self._pending is None and not self._working, timeout)
        return self.box

    _working = False

    def _loop(self) -> None:
        import time

        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._pending is not None or self._stop)
                if self._stop:
                    return
                grey, self._pending = self._pending, None
                self._working = True
            try:
                t, c = time.perf_counter(), time.thread_time()
                self.box = self.tracker.update(grey)
                self.busy_s += time.perf_counter() - t
                self.busy_cpu_s += time.thread_time() - c
                self.runs += 1
            except BaseException as err:  # surfaced on the caller's thread by the next submit
                self._error = err
            finally:
                with self._cv:
                    self._working = False
                    self._cv.notify_all()

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._thread.join(timeout=5)
