"""Procedural data whose labels are known by construction (numpy + OpenCV only, no TensorFlow).

Neither GazeCapture nor CHASE_DB1 may be redistributed or downloaded here (papers.md §4), so the
bundled demo models are trained on these generators, and the demos and tests use them at run time.
Both are deterministic: the same ``seed`` gives the same bytes.

Gaze geometry (GazeCapture convention): the front camera is the origin of the screen plane, XCam
to the right, YCam up, in cm. A head at (hx, hy) and distance D looks at target (gx, gy); the
eyes' direction is (atan((gx-hx)/D), atan((gy-hy)/D)). The crop shows the eye-in-head rotation
(iris/pupil offset) and the head pose (feature layout); the face-grid box shows hx, hy and D
(box position and size). Frames are drawn as a selfie preview (mirrored): a head moving to the
user's right moves right in the frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .facegrid import GRID_CELLS

#: Full camera frame the face grid refers to (portrait, like a phone's front camera).
FRAME_W, FRAME_H = 480, 640
#: Horizontal field of view of that camera.
FRAME_HFOV_DEG = 60.0
#: Physical face width the crop box spans, cm.
FACE_WIDTH_CM = 15.0
#: Where targets, heads and distances are drawn from (cm); a phone/tablet-sized screen below the camera.
TARGET_X_CM = (-12.0, 12.0)
TARGET_Y_CM = (-18.0, 2.0)
HEAD_X_CM = (-5.0, 5.0)
HEAD_Y_CM = (-4.0, 6.0)
DISTANCE_CM = (25.0, 45.0)
HEAD_YAW_PITCH_DEG = 12.0


@dataclass
class GazeSet:
    """``faces`` (N, S, S, 3) uint8 RGB (or (N, S, S) grey), ``boxes`` (N, 4) face-grid x, y, w, h
    in cells, ``targets`` (N, 2) XCam/YCam cm, ``distance`` (N,) cm."""

    faces: np.ndarray
    boxes: np.ndarray
    targets: np.ndarray
    distance: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)


def _half_extent_cm(distance):
    half_w = distance * np.tan(np.radians(FRAME_HFOV_DEG) / 2)
    return half_w, half_w * FRAME_H / FRAME_W


def face_grid_box(head_x, head_y, distance):
    """Face-grid box (x, y, w, h) in cells for a head at (head_x, head_y) cm and ``distance`` cm."""
    half_w, half_h = _half_extent_cm(distance)
    w = GRID_CELLS * FACE_WIDTH_CM / (2 * half_w)
    h = w * FRAME_W / FRAME_H  # a square box in pixels is taller in cells: the frame is portrait
    cx = GRID_CELLS / 2 * (1 + head_x / half_w)
    cy = GRID_CELLS / 2 * (1 - head_y / half_h)
    return np.array([cx - w / 2, cy - h / 2, w, h], np.float32)


def _skin(rng):
    # Skin tones from dark to light along one hue band, in RGB.
    t = rng.uniform(0, 1)
    dark, light = np.array([70, 45, 30]), np.array([245, 205, 175])
    return np.clip(dark + t * (light - dark) + rng.normal(0, 10, 3), 0, 255)


def _background(rng, s):
    img = np.empty((s, s, 3), np.float32)
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ramp = np.linspace(0, 1, s, dtype=np.float32)
    t = ramp[None, :, None] if rng.random() < 0.5 else ramp[:, None, None]
    img[:] = a + t * (b - a)
    for _ in range(rng.integers(2, 6)):
        c = tuple(float(v) for v in rng.uniform(0, 255, 3))
        p = rng.integers(0, s, 2)
        if rng.random() < 0.5:
            cv2.circle(img, (int(p[0]), int(p[1])), int(rng.integers(s // 10, s // 3)), c, -1)
        else:
            q = p + rng.integers(-s // 3, s // 3, 2)
            cv2.rectangle(img, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), c, -1)
    return img


def _eye(img, center, axes, iris_off, iris_r, iris_rgb, rng):
    """Sclera ellipse with the iris/pupil shifted by ``iris_off`` (px) and clipped to the lids."""
    s = img.shape[0]
    cx, cy = center
    mask = np.zeros((s, s), np.uint8)
    ctr = (int(round(cx * 16)), int(round(cy * 16)))
    cv2.ellipse(mask, ctr, (int(axes[0] * 16), int(axes[1] * 16)), 0, 0, 360, 255, -1, cv2.LINE_AA, 4)
    layer = img.copy()
    layer[mask > 0] = rng.uniform(200, 245)
    ic = (int(round((cx + iris_off[0]) * 16)), int(round((cy + iris_off[1]) * 16)))
    cv2.circle(layer, ic, int(iris_r * 16), tuple(float(v) for v in iris_rgb), -1, cv2.LINE_AA, 4)
    cv2.circle(layer, ic, int(iris_r * 0.45 * 16), (15.0, 12.0, 12.0), -1, cv2.LINE_AA, 4)
    glint = (ic[0] - int(iris_r * 5), ic[1] - int(iris_r * 5))
    cv2.circle(layer, glint, int(iris_r * 0.18 * 16), (250.0, 250.0, 250.0), -1, cv2.LINE_AA, 4)
    alpha = (mask.astype(np.float32) / 255)[..., None]
    img[:] = img * (1 - alpha) + layer * alpha
    cv2.ellipse(img, ctr, (int(axes[0] * 16), int(axes[1] * 16)), 0, 180, 360,
                (40.0, 30.0, 30.0), max(1, s // 110), cv2.LINE_AA, 4)


def render_face(rng, size, eye_yaw, eye_pitch, head_yaw, head_pitch):
    """One face crop (size, size, 3) uint8 RGB; angles in radians, positive = right / up."""
    s = size * 2  # draw at 2x, then area-downsample for anti-aliasing
    img = _background(rng, s)
    skin = _skin(rng)
    # Head pose moves the features more than the outline: they sit in front of the rotation axis.
    fx, fy = np.sin(head_yaw) * 0.22 * s, -np.sin(head_pitch) * 0.22 * s
    ox, oy = 0.5 * s + fx * 0.3, 0.52 * s + fy * 0.3
    hair = np.clip(rng.uniform(10, 120, 3) * rng.uniform(0.3, 1.0), 0, 255)
    cv2.ellipse(img, (int(ox), int(oy - 0.06 * s)), (int(0.40 * s), int(0.47 * s)), 0, 180, 360,
                tuple(float(v) for v in hair), -1, cv2.LINE_AA)
    cv2.ellipse(img, (int(ox), int(oy)), (int(rng.uniform(0.33, 0.38) * s), int(0.46 * s)), 0, 0, 360,
                tuple(float(v) for v in skin), -1, cv2.LINE_AA)
    ex, ey = 0.5 * s + fx, rng.uniform(0.40, 0.44) * s + fy
    spread = rng.uniform(0.15, 0.18) * s * np.cos(head_yaw)
    axes = (rng.uniform(0.075, 0.09) * s, rng.uniform(0.042, 0.052) * s)
    iris_r = axes[1] * rng.uniform(0.85, 0.95)
    iris_rgb = [(90, 55, 30), (60, 40, 25), (70, 110, 150), (80, 120, 80), (110, 110, 120)][rng.integers(5)]
    iris_rgb = np.clip(np.array(iris_rgb) + rng.normal(0, 12, 3), 0, 255)
    off = (np.sin(eye_yaw) * axes[0] * 0.95, -np.sin(eye_pitch) * axes[1] * 1.3)
    brow = tuple(float(v) for v in hair * 0.8)
    for side in (-1, 1):
        c = (ex + side * spread, ey)
        _eye(img, c, axes, off, iris_r, iris_rgb, rng)
        y_b = c[1] - axes[1] * 2.0 + np.sin(eye_pitch) * axes[1] * 0.3
        cv2.line(img, (int(c[0] - axes[0]), int(y_b + axes[1] * 0.3)), (int(c[0] + axes[0]), int(y_b)),
                 brow, max(1, s // 50), cv2.LINE_AA)
    nose = skin * 0.7
    nx, ny = 0.5 * s + fx * 1.3, ey + 0.17 * s
    cv2.line(img, (int(ex + fx * 0.2), int(ey + 0.02 * s)), (int(nx), int(ny)),
             tuple(float(v) for v in nose), max(1, s // 70), cv2.LINE_AA)
    lips = tuple(float(v) for v in np.clip(skin * np.array([0.8, 0.45, 0.45]), 0, 255))
    cv2.ellipse(img, (int(0.5 * s + fx), int(ny + 0.1 * s)), (int(0.09 * s), int(0.03 * s)), 0, 0, 180,
                lips, max(1, s // 60), cv2.LINE_AA)
    # Directional light, exposure, sensor noise.
    g = np.linspace(-1, 1, s, dtype=np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0, 0.35) * (np.cos(ang) * g[None, :] + np.sin(ang) * g[:, None])
    img = img * light[..., None] * rng.uniform(0.6, 1.25) + rng.uniform(-25, 25)
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    img += rng.normal(0, rng.uniform(1, 7), img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def gaze_samples(n: int, seed: int, size: int = 112, grey: bool = False) -> GazeSet:
    """``n`` synthetic (face crop, face-grid box, gaze target) triples, reproducible by ``seed``."""
    rng = np.random.default_rng(seed)
    faces = np.empty((n, size, size) if grey else (n, size, size, 3), np.uint8)
    boxes = np.empty((n, 4), np.float32)
    targets = np.empty((n, 2), np.float32)
    dist = np.empty(n, np.float32)
    lim = np.radians(HEAD_YAW_PITCH_DEG)
    for i in range(n):
        d = rng.uniform(*DISTANCE_CM)
        hx, hy = rng.uniform(*HEAD_X_CM), rng.uniform(*HEAD_Y_CM)
        gx, gy = rng.uniform(*TARGET_X_CM), rng.uniform(*TARGET_Y_CM)
        yaw, pitch = np.arctan((gx - hx) / d), np.arctan((gy - hy) / d)
        h_yaw, h_pitch = rng.uniform(-lim, lim), rng.uniform(-lim, lim)
        face = render_face(rng, size, yaw - h_yaw, pitch - h_pitch, h_yaw, h_pitch)
        faces[i] = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY) if grey else face
        boxes[i] = face_grid_box(hx, hy, d)
        targets[i] = gx, gy
        dist[i] = d
    return GazeSet(faces, boxes, targets, dist)


def compose_frame(face: np.ndarray, box, seed: int = 0) -> np.ndarray:
    """A full FRAME_W x FRAME_H RGB camera frame with ``face`` pasted where face-grid ``box`` says.

    For demos that start from a whole frame (face detection, cropping) instead of a crop.
    """
    rng = np.random.default_rng(seed)
    frame = _background(rng, max(FRAME_W, FRAME_H))[:FRAME_H, :FRAME_W]
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    x, y, w, h = (float(v) for v in box)
    x0, y0 = int(round(x / GRID_CELLS * FRAME_W)), int(round(y / GRID_CELLS * FRAME_H))
    side = max(1, int(round(w / GRID_CELLS * FRAME_W)))
    if face.ndim == 2:
        face = cv2.cvtColor(face, cv2.COLOR_GRAY2RGB)
    patch = cv2.resize(face, (side, side), interpolation=cv2.INTER_LINEAR)
    fx0, fy0 = max(0, -x0), max(0, -y0)
    x0c, y0c = max(0, x0), max(0, y0)
    x1c, y1c = min(FRAME_W, x0 + side), min(FRAME_H, y0 + side)
    if x1c > x0c and y1c > y0c:
        frame[y0c:y1c, x0c:x1c] = patch[fy0:fy0 + y1c - y0c, fx0:fx0 + x1c - x0c]
    return frame
