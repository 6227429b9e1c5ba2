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
#: Eye-in-head rotation at which the drawn iris reaches the end of its travel.
EYE_RANGE_DEG = 45.0


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
    h = w * FRAME_W / FRAME_H  # square in pixels, fewer cells tall: the frame is portrait
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
    a, b = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
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
    # Work in the eye's bounding box only: the rest of the face is untouched.
    pad = int(max(axes) + 2)
    x0, y0 = max(0, int(center[0]) - pad), max(0, int(center[1]) - pad)
    x1, y1 = min(s, int(center[0]) + pad + 1), min(s, int(center[1]) + pad + 1)
    roi = img[y0:y1, x0:x1]
    cx, cy = center[0] - x0, center[1] - y0
    mask = np.zeros(roi.shape[:2], np.uint8)
    ctr = (int(round(cx * 16)), int(round(cy * 16)))
    ax16 = (int(axes[0] * 16), int(axes[1] * 16))
    cv2.ellipse(mask, ctr, ax16, 0, 0, 360, 255, -1, cv2.LINE_AA, 4)
    layer = np.empty_like(roi)
    layer[:] = rng.uniform(200, 245)
    ic = (int(round((cx + iris_off[0]) * 16)), int(round((cy + iris_off[1]) * 16)))
    cv2.circle(layer, ic, int(iris_r * 16), tuple(float(v) for v in iris_rgb), -1, cv2.LINE_AA, 4)
    cv2.circle(layer, ic, int(iris_r * 0.45 * 16), (15.0, 12.0, 12.0), -1, cv2.LINE_AA, 4)
    glint = (ic[0] - int(iris_r * 5), ic[1] - int(iris_r * 5))
    cv2.circle(layer, glint, int(iris_r * 0.18 * 16), (250.0, 250.0, 250.0), -1, cv2.LINE_AA, 4)
    alpha = (mask.astype(np.float32) / 255)[..., None]
    roi[:] = roi * (1 - alpha) + layer * alpha
    cv2.ellipse(roi, ctr, ax16, 0, 180, 360, (40.0, 30.0, 30.0), max(1, s // 110), cv2.LINE_AA, 4)


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
    axes = (rng.uniform(0.085, 0.10) * s, rng.uniform(0.045, 0.055) * s)
    iris_r = axes[1] * rng.uniform(0.85, 0.95)
    iris_rgb = [(90, 55, 30), (60, 40, 25), (70, 110, 150), (80, 120, 80), (110, 110, 120)][rng.integers(5)]
    iris_rgb = np.clip(np.array(iris_rgb) + rng.normal(0, 12, 3), 0, 255)
    # The iris travels linearly with the eye-in-head angle, reaching the eye corner region at
    # EYE_RANGE_DEG: a cartoon eye, larger and more mobile than a real one, so that a model can
    # learn the mapping from a few thousand samples.
    lim = np.radians(EYE_RANGE_DEG)
    off = (np.clip(eye_yaw / lim, -1, 1) * axes[0] * 0.8, -np.clip(eye_pitch / lim, -1, 1) * axes[1] * 0.9)
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
    k = np.float32(rng.uniform(0, 0.35))
    light = 1 + k * np.float32(np.cos(ang)) * g[None, :] + k * np.float32(np.sin(ang)) * g[:, None]
    img *= light[..., None] * np.float32(rng.uniform(0.6, 1.25))
    img += np.float32(rng.uniform(-25, 25))
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    img += rng.standard_normal(img.shape, np.float32) * np.float32(rng.uniform(1, 7))
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


@dataclass
class FundusSet:
    """``images`` (N, S, S, 3) uint8 RGB fundus-like images, ``masks`` (N, S, S) uint8 {0, 1}
    vessel labels, ``fov`` (N, S, S) uint8 {0, 1} field of view (the lit disc)."""

    images: np.ndarray
    masks: np.ndarray
    fov: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


#: Vessels are drawn at this multiple of the output size, then area-averaged: a pixel is labelled
#: vessel when at least half of it is covered, and the image darkens in proportion to coverage.
_SUPERSAMPLE = 4


def _vessel_tree(cov, dark, rng, p, angle, width, step, depth, bend, radius, centre):
    """Draw one vessel from ``p`` and its branches, recursively; widths shrink at each fork."""
    contrast = int(255 * min(0.75, 0.25 + 0.09 * width / _SUPERSAMPLE))
    seg_left = rng.integers(6, 14)
    while True:
        angle += rng.normal(0, 0.12) + bend
        q = (p[0] + step * np.cos(angle), p[1] + step * np.sin(angle))
        if np.hypot(q[0] - centre, q[1] - centre) > radius:
            return
        t = max(1, int(round(width)))
        a, b = (int(p[0]), int(p[1])), (int(q[0]), int(q[1]))
        cv2.line(cov, a, b, 255, t, cv2.LINE_AA)
        cv2.line(dark, a, b, contrast, t, cv2.LINE_AA)
        p = q
        seg_left -= 1
        if seg_left == 0:
            break
    if depth == 0 or width < 0.9 * _SUPERSAMPLE / 2:
        return
    split = rng.uniform(0.35, 0.7)
    for sign in (-1, 1):
        w = width * (rng.uniform(0.7, 0.9) if sign > 0 else rng.uniform(0.55, 0.8))
        _vessel_tree(cov, dark, rng, p, angle + sign * split, w, step, depth - 1, bend * 0.6,
                     radius, centre)


def render_fundus(rng, size: int = 96):
    """One fundus-like image, its vessel mask and its field of view (see :class:`FundusSet`)."""
    big = size * _SUPERSAMPLE
    centre, radius = big / 2, big * rng.uniform(0.44, 0.49)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    r = np.hypot(xx - size / 2, yy - size / 2) / (radius / _SUPERSAMPLE)
    fov = (r <= 1).astype(np.uint8)
    base = np.array([rng.uniform(170, 235), rng.uniform(60, 110), rng.uniform(15, 45)], np.float32)
    img = np.empty((size, size, 3), np.float32)
    img[:] = base
    # Vignetting toward the rim and a slow, blotchy choroid background.
    img *= (1 - rng.uniform(0.3, 0.55) * r ** 2)[..., None]
    blotch = cv2.resize(rng.normal(1, 0.08, (6, 6)).astype(np.float32), (size, size),
                        interpolation=cv2.INTER_CUBIC)
    img *= blotch[..., None]
    # Optic disc on one side, macula (darker) on the other.
    side = rng.choice([-1, 1])
    disc = (size / 2 + side * rng.uniform(0.18, 0.28) * size, size / 2 + rng.normal(0, 0.04) * size)
    disc_r = size * rng.uniform(0.06, 0.09)
    d = np.hypot(xx - disc[0], yy - disc[1]) / disc_r
    img += (np.exp(-d ** 4) * rng.uniform(50, 90))[..., None] * np.array([1.0, 1.1, 0.7], np.float32)
    mac = (size / 2 - side * rng.uniform(0.05, 0.12) * size, disc[1])
    m = np.hypot(xx - mac[0], yy - mac[1]) / (size * 0.1)
    img *= (1 - 0.25 * np.exp(-m ** 2))[..., None]
    # Vessel trees: four arcades leave the disc, the temporal ones bending round the macula.
    cov = np.zeros((big, big), np.uint8)
    dark = np.zeros((big, big), np.uint8)
    start = (disc[0] * _SUPERSAMPLE, disc[1] * _SUPERSAMPLE)
    toward = 0.0 if side < 0 else np.pi  # angle from the disc toward the macula
    step = big / 48
    for up in (-1, 1):
        for temporal in (True, False):
            a0 = toward + up * (rng.uniform(0.6, 1.0) if temporal else rng.uniform(1.9, 2.5))
            bend = -up * rng.uniform(0.02, 0.05) * (1 if side < 0 else -1) * (1 if temporal else 0.3)
            w = _SUPERSAMPLE * rng.uniform(1.6, 2.4) * (size / 96)
            _vessel_tree(cov, dark, rng, start, a0, w, step, depth=5, bend=bend, radius=radius * 0.98,
                         centre=centre)
    cov_s = cv2.resize(cov.astype(np.float32) / 255, (size, size), interpolation=cv2.INTER_AREA)
    dark_s = cv2.resize(dark.astype(np.float32) / 255, (size, size), interpolation=cv2.INTER_AREA)
    img *= 1 - dark_s[..., None] * np.array([0.55, 0.9, 0.8], np.float32)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 0.7))
    img *= rng.uniform(0.75, 1.2)
    img += rng.standard_normal(img.shape, np.float32) * np.float32(rng.uniform(2, 6))
    img *= fov[..., None]
    mask = ((cov_s >= 0.5) & (fov > 0)).astype(np.uint8)
    return np.clip(img, 0, 255).astype(np.uint8), mask, fov


def fundus_samples(n: int, seed: int, size: int = 96) -> FundusSet:
    """``n`` synthetic fundus images with their vessel masks, reproducible by ``seed``."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), np.uint8)
    fov = np.empty((n, size, size), np.uint8)
    for i in range(n):
        images[i], masks[i], fov[i] = render_fundus(rng, size)
    return FundusSet(images, masks, fov)
