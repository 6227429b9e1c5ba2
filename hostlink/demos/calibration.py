"""Per-user gaze calibration: a 9-point schedule, a ridge-regularised affine fit, a JSON profile.

The model predicts a gaze point in cm from the camera (GazeCapture's XCam/YCam: x right, y up).
A person's eyes, their screen and their camera placement bend that a little; nine fixations on
known points fit a 2-D affine map from raw predictions to screen cm. The fit is ridge-regularised
toward the identity, so a noisy or partial calibration can only nudge the raw predictions.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError

PROFILE_VERSION = 1
#: Fixations a calibration needs before it is saved or applied. The affine map has 6 unknowns; with
#: 6 of the 9 dots there are 12 equations, so the fit is overdetermined (its residual means
#: something) and, on the 3x3 grid, spans at least two rows and two columns. Fewer (3 dots on
#: one side of the screen) would be fitted exactly, residual 0, and bend every later prediction.
MIN_POINTS = 6
#: Default screen: the area the synthetic gaze data draws targets from (24 cm wide, 20 cm tall,
#: camera 2 cm above its top edge; hostlink.datasets.synthetic.TARGET_X_CM / TARGET_Y_CM).
DEFAULT_SCREEN_CM = (24.0, 20.0)
DEFAULT_CAMERA_ABOVE_CM = -2.0


@dataclass(frozen=True)
class Screen:
    """A screen below the camera: x in [-w/2, w/2] cm, y from ``top`` down to ``top - h`` cm."""

    width_cm: float = DEFAULT_SCREEN_CM[0]
    height_cm: float = DEFAULT_SCREEN_CM[1]
    top_cm: float = -DEFAULT_CAMERA_ABOVE_CM  # y of the top edge (positive: above the camera)

    def __post_init__(self):
        for name, value in (("width", self.width_cm), ("height", self.height_cm)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
                raise ConfigError(f"screen {name} must be a finite number of cm > 0, not {value!r}",
                                  'e.g. --screen 30x19 (WIDTHxHEIGHT in cm)')
        if isinstance(self.top_cm, bool) or not isinstance(self.top_cm, (int, float)) or not np.isfinite(self.top_cm):
            raise ConfigError(f"screen top must be a finite number of cm, not {self.top_cm!r}", 'e.g. --screen 30x19+0.5')

    def to_pixels(self, point_cm, width_px: int, height_px: int) -> tuple[float, float]:
        x, y = float(point_cm[0]), float(point_cm[1])
        return ((x + self.width_cm / 2) / self.width_cm * width_px, (self.top_cm - y) / self.height_cm * height_px)

    def to_cm(self, px: float, py: float, width_px: int, height_px: int) -> tuple[float, float]:
        return px / width_px * self.width_cm - self.width_cm / 2, self.top_cm - py / height_px * self.height_cm

    def nine_points(self, inset: float = 0.1) -> np.ndarray:
        """The 3x3 calibration targets in cm, row by row from the top left, ``inset`` from the edges."""
        fr = (inset, 0.5, 1 - inset)
        return np.array([self.to_cm(fx, fy, 1, 1) for fy in fr for fx in fr], np.float64)


def parse_screen(text: str | None) -> Screen:
    """``"WxH"`` or ``"WxH+TOP"`` in cm."""
    if not text:
        return Screen()
    try:
        size, _, top = text.lower().partition("+")
        w, h = (float(v) for v in size.split("x"))
        return Screen(w, h, float(top) if top else -DEFAULT_CAMERA_ABOVE_CM)
    except ValueError:
        raise ConfigError(f"cannot read screen size {text!r}", 'give WIDTHxHEIGHT in cm, e.g. "30x19", '
                          'optionally +TOP for the top edge above the camera, e.g. "30x19+0.5"') from None


def fit_affine(raw: np.ndarray, target: np.ndarray, ridge: float = 1.0) -> np.ndarray:
    """2x3 matrix A minimising |A [raw;1] - target|^2 + ridge * |A_lin - I|^2 (bias unpenalised)."""
    raw = np.asarray(raw, np.float64).reshape(-1, 2)
    target = np.asarray(target, np.float64).reshape(-1, 2)
    if len(raw) < 3:
        raise ConfigError(f"calibration needs at least 3 fixations, got {len(raw)}", "keep the face in view while the dots show")
    f = np.hstack([raw, np.ones((len(raw), 1))])
    pen = np.diag([ridge, ridge, 0.0])
    prior = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    lhs = f.T @ f + pen
    rhs = f.T @ target + pen @ prior.T
    return np.linalg.solve(lhs, rhs).T


@dataclass
class Calibration:
    matrix: np.ndarray = field(default_factory=lambda: np.array([[1.0, 0, 0], [0, 1.0, 0]]))
    screen: Screen = field(default_factory=Screen)
    model_sha256: str = ""
    created: str = ""
    residual_cm: float = float("nan")
    points: int = 0

    def apply(self, raw_cm) -> np.ndarray:
        r = np.asarray(raw_cm, np.float64).reshape(2)
        return self.matrix[:, :2] @ r + self.matrix[:, 2]

    @classmethod
    def fit(cls, raw: np.ndarray, target: np.ndarray, screen: Screen, model_sha256: str = "",
            ridge: float = 1.0) -> "Calibration":
        if len(np.asarray(raw).reshape(-1, 2)) < MIN_POINTS:
            raise ConfigError(f"calibration got usable fixations on {len(np.asarray(raw).reshape(-1, 2))} dots; "
                              f"it needs at least {MIN_POINTS} of the 9",
                              "keep your face in view and well lit while the dots show, then calibrate again")
        m = fit_affine(raw, target, ridge)
        pred = np.hstack([np.asarray(raw, np.float64), np.ones((len(raw), 1))]) @ m.T
        resid = float(np.mean(np.linalg.norm(pred - np.asarray(target, np.float64), axis=1)))
        return cls(m, screen, model_sha256, time.strftime("%Y-%m-%dT%H:%M:%S%z"), resid, len(raw))

    def to_json(self) -> dict:
        return dict(version=PROFILE_VERSION, kind="affine-ridge", matrix=self.matrix.tolist(),
                    screen=dict(width_cm=self.screen.width_cm, height_cm=self.screen.height_cm, top_cm=self.screen.top_cm),
                    model_sha256=self.model_sha256, created=self.created, residual_cm=self.residual_cm,
                    points=self.points)

    def save(self, path: Path) -> Path:
        if self.points < MIN_POINTS:
            raise ConfigError(f"a calibration from {self.points} dots is not saved; it needs at least {MIN_POINTS} of the 9",
                              "calibrate again: hostlink gaze --calibrate")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: Path) -> "Calibration":
        path = Path(path)
        try:
            d = json.loads(path.read_text())
            if d.get("version") != PROFILE_VERSION:
                raise ValueError(f"profile version {d.get('version')}, this hostlink reads {PROFILE_VERSION}")
            m = np.array(d["matrix"], np.float64)
            if m.shape != (2, 3) or not np.all(np.isfinite(m)):
                raise ValueError("matrix is not a finite 2x3 array")
            s = d.get("screen", {})
            try:
                screen = Screen(float(s.get("width_cm", DEFAULT_SCREEN_CM[0])),
                                float(s.get("height_cm", DEFAULT_SCREEN_CM[1])),
                                float(s.get("top_cm", -DEFAULT_CAMERA_ABOVE_CM)))
            except ConfigError as err:
                raise ValueError(err.message) from None
            points = int(d.get("points", 0))
            if points < MIN_POINTS:
                raise ValueError(f"it was fitted on {points} dots; a calibration needs at least {MIN_POINTS} of the 9")
        except FileNotFoundError:
            raise ConfigError(f"no gaze profile at {path}", "calibrate first: hostlink gaze --calibrate") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise ConfigError(f"cannot read gaze profile {path}: {err}", "recalibrate: hostlink gaze --calibrate") from None
        return cls(m, screen, str(d.get("model_sha256", "")), str(d.get("created", "")),
                   _float_or_nan(d.get("residual_cm")), points)


def _float_or_nan(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def default_profile_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "hostlink" / "gaze-profile.json"


class CalibrationSchedule:
    """Which dot shows on which frame: each of the points for ``settle`` + ``collect`` frames.

    Frames in the settle part let the eyes land on the new dot; predictions from the collect
    part are kept and their median is the fixation. A recorded calibration video follows the
    same schedule (``hostlink.demos.synthvideo.calibration_clip`` writes one).
    """

    def __init__(self, points_cm: np.ndarray, settle: int = 10, collect: int = 15):
        self.points = np.asarray(points_cm, np.float64)
        self.settle, self.collect = settle, collect
        self.samples: list[list[np.ndarray]] = [[] for _ in self.points]

    @property
    def frames(self) -> int:
        return len(self.points) * (self.settle + self.collect)

    def at(self, frame: int) -> tuple[int, bool] | None:
        """(point index, collecting) for a frame number, None once the schedule is over."""
        if frame >= self.frames:
            return None
        k, r = divmod(frame, self.settle + self.collect)
        return k, r >= self.settle

    def add(self, frame: int, raw_cm) -> None:
        where = self.at(frame)
        if where is not None and where[1] and raw_cm is not None:
            self.samples[where[0]].append(np.asarray(raw_cm, np.float64).reshape(2))

    def fixations(self) -> tuple[np.ndarray, np.ndarray]:
        """(raw medians, targets) for the points that got at least a third of their frames."""
        need = max(1, self.collect // 3)
        keep = [i for i, s in enumerate(self.samples) if len(s) >= need]
        raw = np.array([np.median(np.stack(self.samples[i]), axis=0) for i in keep]).reshape(-1, 2)
        return raw, self.points[keep]
