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

    def update(self, lines: list[str], now: float, chart: "StripChart | None" = None) -> None:
        sizes = [cv2.getTextSize(t, FONT, self.scale, 1)[0] for t in lines]
        line_h = max(s[1] for s in sizes) + 7
        text_h = line_h * len(lines) + 6
        width = max(s[0] for s in sizes) + 12
        chart_h = 0 if chart is None else chart.height + 8
        panel = np.full((text_h + chart_h, width, 3), 28, np.uint8)
        for i, t in enumerate(lines):
            cv2.putText(panel, t, (6, (i + 1) * line_h), FONT, self.scale, WHITE, 1, cv2.LINE_AA)
        if chart is not None:
            chart.draw(panel[text_h:text_h + chart.height, 6:width - 6], self.scale * 0.85)
        self._panel, self._at = panel, now

    def draw(self, frame: np.ndarray) -> None:
        if self._panel is None:
            return
        x0, y0 = self.origin
        h = min(self._panel.shape[0], frame.shape[0] - y0)
        w = min(self._panel.shape[1], frame.shape[1] - x0)
        if h > 0 and w > 0:
            frame[y0:y0 + h, x0:x0 + w] = self._panel[:h, :w]


class StripChart:
    """The board's current over the last second or so, drawn into a HUD panel: the peak of each
    bin as a filled trace scaled to the highest peak, the idle baseline as a dashed line (the
    scale and the baseline's value go in the HUD's text)."""

    def __init__(self, values, baseline: float | None, unit: str = "mA", height: int = 46, label: str = ""):
        self.values = np.asarray(list(values), np.float64)
        self.baseline, self.unit, self.height, self.label = baseline, unit, height, label

    def draw(self, roi: np.ndarray, scale: float) -> None:
        h, w = roi.shape[:2]
        if h < 8 or w < 16:
            return
        roi[:] = 12
        v = self.values[np.isfinite(self.values)] if len(self.values) else self.values
        top = max(float(v.max()) if len(v) else 0.0, (self.baseline or 0.0) * 1.2, 1e-9)
        if len(self.values):
            # one column per pixel: the peak of the bins that fall in it (short stages stay visible)
            idx = np.linspace(0, len(self.values), w + 1).astype(int)
            cols = [self.values[a:max(b, a + 1)] for a, b in zip(idx[:-1], idx[1:])]
            peaks = np.array([np.nanmax(c) if np.isfinite(c).any() else np.nan for c in cols])
            for x, pv in enumerate(peaks):
                if np.isfinite(pv):
                    y = int(round((h - 1) * (1.0 - pv / top)))
                    roi[y:h, x:x + 2] = (60, 150, 60)  # two pixels wide: a 1 ms stage stays visible
                    roi[y, x:x + 2] = GREEN
                else:  # samples lost: a red tick at the bottom
                    roi[h - 3:h, x] = RED
        if self.baseline is not None:
            y = int(round((h - 1) * (1.0 - self.baseline / top)))
            for x in range(0, w, 6):
                roi[y, x:x + 3] = YELLOW
        if self.label:
            cv2.putText(roi, self.label, (4, int(12 * scale / 0.38)), FONT, scale, WHITE, 1, cv2.LINE_AA)


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
