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


class Hud:
    """A HUD panel for a live loop: text is re-rendered at most every ``period_s`` (a readable
    rate), and every frame only copies the cached panel in, a few microseconds instead of the
    ~0.5 ms that anti-aliased text costs."""

    def __init__(self, period_s: float = 0.25, origin=(8, 8), scale: float = 0.45):
        self.period_s, self.origin, self.scale = period_s, origin, scale
        self._panel: np.ndarray | None = None
        self._at = -1e9

    def due(self, now: float) -> bool:
        return self._panel is None or now - self._at >= self.period_s

    def update(self, lines: list[str], now: float) -> None:
        sizes = [cv2.getTextSize(t, FONT, self.scale, 1)[0] for t in lines]
        line_h = max(s[1] for s in sizes) + 7
        panel = np.full((line_h * len(lines) + 6, max(s[0] for s in sizes) + 12, 3), 28, np.uint8)
        for i, t in enumerate(lines):
            cv2.putText(panel, t, (6, (i + 1) * line_h), FONT, self.scale, WHITE, 1, cv2.LINE_AA)
        self._panel, self._at = panel, now

    def draw(self, frame: np.ndarray) -> None:
        if self._panel is None:
            return
        x0, y0 = self.origin
        h = min(self._panel.shape[0], frame.shape[0] - y0)
        w = min(self._panel.shape[1], frame.shape[1] - x0)
        if h > 0 and w > 0:
            frame[y0:y0 + h, x0:x0 + w] = self._panel[:h, :w]


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
