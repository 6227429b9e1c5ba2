"""Drawing on BGR frames: face and crop boxes, the gaze point, a HUD with the board's stage timings,
calibration dots, and vessel-mask overlays. Everything draws in place and costs well under 1 ms.
"""
from __future__ import annotations

import cv2
import numpy as np

from .facedetect import Box

FONT = cv2.FONT_HERSHEY_SIMPLEX
GREEN, RED, WHITE, YELLOW, CYAN, BLACK = (80, 220, 80), (40, 40, 240), (255, 255, 255), (0, 220, 255), (230, 200, 40), (0, 0, 0)


def draw_box(frame: np.ndarray, box: Box, color=GREEN, thickness: int = 2) -> None:
    x, y, w, h = box.ints()
    cv2.rectangle(frame, (x, y), (x + w, y + h), color, thickness, cv2.LINE_AA)


def draw_gaze(frame: np.ndarray, px: float, py: float, calibrated: bool) -> None:
    """The gaze point, clamped to the frame (an arrow-less ring marks a point off screen)."""
    h, w = frame.shape[:2]
    inside = 0 <= px < w and 0 <= py < h
    cx, cy = int(np.clip(px, 6, w - 7)), int(np.clip(py, 6, h - 7))
    color = RED if calibrated else YELLOW
    if inside:
        cv2.circle(frame, (cx, cy), 11, WHITE, 2, cv2.LINE_AA)
        cv2.circle(frame, (cx, cy), 8, color, -1, cv2.LINE_AA)
    else:
        cv2.circle(frame, (cx, cy), 9, color, 2, cv2.LINE_AA)


def draw_target(frame: np.ndarray, px: float, py: float, collecting: bool) -> None:
    c = (int(px), int(py))
    cv2.circle(frame, c, 16, WHITE, -1, cv2.LINE_AA)
    cv2.circle(frame, c, 6, RED if collecting else BLACK, -1, cv2.LINE_AA)


def draw_hud(frame: np.ndarray, lines: list[str], origin=(8, 8), scale: float = 0.45) -> None:
    """Lines of text on a darkened panel."""
    if not lines:
        return
    sizes = [cv2.getTextSize(t, FONT, scale, 1)[0] for t in lines]
    line_h = max(s[1] for s in sizes) + 7
    w = max(s[0] for s in sizes) + 12
    h = line_h * len(lines) + 6
    x0, y0 = origin
    fh, fw = frame.shape[:2]
    x1, y1 = min(fw, x0 + w), min(fh, y0 + h)
    roi = frame[y0:y1, x0:x1]
    np.right_shift(roi, 1, out=roi)  # half brightness in place: a blend would cost 20x more
    for i, t in enumerate(lines):
        cv2.putText(frame, t, (x0 + 6, y0 + (i + 1) * line_h), FONT, scale, WHITE, 1, cv2.LINE_AA)


def stage_line(stages: dict, total_ms: float | None = None) -> str:
    """``board: capture 17.9  inference 0.86  transfer 0.24 = 19.0 ms`` from CaptureResult.stages."""
    parts = [f"{k} {v.duration_ms:.2f}" for k, v in stages.items()]
    tail = f" = {total_ms:.2f} ms" if total_ms is not None else " ms"
    return "board: " + "  ".join(parts) + tail


def mask_overlay(image_bgr: np.ndarray, prob: np.ndarray, threshold: float = 0.5,
                 truth: np.ndarray | None = None) -> np.ndarray:
    """The image with predicted vessels in yellow; with ``truth``: hits yellow, misses red, false alarms cyan."""
    out = image_bgr.copy()
    pred = prob >= threshold
    if truth is None:
        layers = [(pred, YELLOW)]
    else:
        t = truth.astype(bool)
        layers = [(pred & t, YELLOW), (~pred & t, RED), (pred & ~t, CYAN)]
    for m, color in layers:
        if m.any():
            out[m] = (0.35 * out[m] + 0.65 * np.array(color, np.float32)).astype(np.uint8)
    return out
