"""Camera frame + face crop box -> TinyTracker's INT8 input tensor, in well under a millisecond.

The tensor is bit-identical to ``quantize(gaze_input(face, grid_box))`` from
hostlink.datasets.facegrid (the float path the models were trained and quantized with) but is
built without float images: pixel normalisation followed by quantization is a function of the
8-bit pixel value alone, so it is a 256-entry lookup table made from the input tensor's own
scale and zero point; each grid plane is a ramp along one axis, so it is quantized once per
row or column and broadcast. (The TinyTracker authors' demo fed ``pixel-127.5`` as raw int8 and
ignored scale and zero point, which pins predictions to the screen centre; papers.md §1.)
"""
from __future__ import annotations

import cv2
import numpy as np

from ..datasets.facegrid import GRID_CELLS
from ..errors import ConfigError
from ..types import TensorSpec
from .facedetect import Box


def grid_box(crop: Box, frame_w: int, frame_h: int) -> tuple[float, float, float, float]:
    """The crop box (frame pixels) on GazeCapture's 25x25 face grid over the whole frame, in cells."""
    sx, sy = GRID_CELLS / frame_w, GRID_CELLS / frame_h
    return crop.x * sx, crop.y * sy, crop.w * sx, crop.h * sy


def crop_square(frame: np.ndarray, crop: Box, size: int) -> np.ndarray:
    """The crop box resized to size x size; parts outside the frame are black (as in GazeCapture)."""
    h, w = frame.shape[:2]
    x0, y0 = int(round(crop.x)), int(round(crop.y))
    side = max(1, int(round(crop.w)))
    x1, y1 = x0 + side, y0 + side
    if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
        patch = frame[y0:y1, x0:x1]
    else:
        patch = np.zeros((side, side) + frame.shape[2:], frame.dtype)
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if cx1 > cx0 and cy1 > cy0:
            patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] = frame[cy0:cy1, cx0:cx1]
    # INTER_AREA is the better filter but costs ~1 ms at non-integer ratios; below 2x bilinear
    # sampling loses little and costs a fifth of that.
    interp = cv2.INTER_AREA if side >= 2 * size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


class GazeInputBuilder:
    """Builds the model's input tensor for one TinyTracker / TinyTrackerS input ``spec``."""

    def __init__(self, spec: TensorSpec):
        shape = tuple(spec.shape)
        if len(shape) != 4 or shape[1] != shape[2] or shape[3] not in (3, 5):
            raise ConfigError(f"input {spec.name} has shape {shape}; a gaze model takes (1, S, S, 5) RGB + grid "
                              "or (1, S, S, 3) grey + grid", "use tinytracker_int8.tflite or tinytrackers_int8.tflite")
        if spec.dtype not in ("int8", "uint8") or not spec.scale:
            raise ConfigError(f"input {spec.name} is {spec.dtype} without quantization parameters; the demos run INT8 models",
                              "quantize the model to full INT8 (tools/models/build.py)")
        self.spec = spec
        self.size = shape[1]
        self.grey = shape[3] == 3
        pixels = np.arange(256, dtype=np.float32) / 127.5 - 1.0
        self.lut = spec.quantize(pixels)
        self._lut_u8 = self.lut.view(np.uint8)
        self.shape = shape

    def face_pixels(self, frame_bgr: np.ndarray, crop: Box) -> np.ndarray:
        """The model's face channels (RGB, or grey for TinyTrackerS) as uint8, size x size."""
        face = crop_square(frame_bgr, crop, self.size)
        if self.grey:
            return cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
        return cv2.cvtColor(face, cv2.COLOR_BGR2RGB)

    def build(self, frame_bgr: np.ndarray, crop: Box) -> np.ndarray:
        """The quantized input for a BGR frame and a square crop box in its pixels."""
        h, w = frame_bgr.shape[:2]
        return self.from_face(self.face_pixels(frame_bgr, crop), grid_box(crop, w, h))

    def from_face(self, face: np.ndarray, box) -> np.ndarray:
        """The quantized input for a face crop (uint8, size x size, RGB or grey) and a face-grid box in cells."""
        if face.shape[0] != self.size or face.shape[1] != self.size:
            raise ConfigError(f"face crop is {face.shape[:2]}, the model wants {self.size}x{self.size}")
        x, y, bw, bh = (float(v) for v in box)
        s = self.size
        xs = np.linspace(x * 2 / GRID_CELLS - 1, (x + bw) * 2 / GRID_CELLS - 1, s, dtype=np.float32)
        ys = np.linspace(y * 2 / GRID_CELLS - 1, (y + bh) * 2 / GRID_CELLS - 1, s, dtype=np.float32)
        qx = self.spec.quantize(np.clip(xs, -1.0, 1.0)).view(np.uint8)
        qy = self.spec.quantize(np.clip(ys, -1.0, 1.0)).view(np.uint8)
        planes = cv2.LUT(np.ascontiguousarray(face), self._lut_u8)
        # cv2.merge interleaves the channels in one pass; numpy's strided channel writes cost 3x more.
        merged = cv2.merge([planes, np.repeat(qx[None, :], s, axis=0), np.repeat(qy[:, None], s, axis=1)])
        return merged.view(self.spec.numpy_dtype).reshape(self.shape)
