"""Calibration: the fit recovers a known distortion, the profile round-trips, bad input is explained."""
import json

import numpy as np
import pytest

from hostlink.demos.calibration import Calibration, CalibrationSchedule, Screen, fit_affine, parse_screen
from hostlink.errors import ConfigError


def test_affine_fit_undoes_a_known_distortion():
    rng = np.random.default_rng(0)
    target = Screen().nine_points()
    a = np.array([[0.6, 0.1], [-0.05, 0.7]])
    b = np.array([1.5, -2.0])
    raw = (target - b) @ np.linalg.inv(a).T + rng.normal(0, 0.05, target.shape)  # a @ raw + b = target
    m = fit_affine(raw, target, ridge=1e-6)
    assert np.allclose(m[:, :2], a, atol=0.02) and np.allclose(m[:, 2], b, atol=0.1)
    cal = Calibration.fit(raw, target, Screen(), ridge=1e-6)
    assert cal.residual_cm < 0.15
    assert np.allclose(cal.apply(raw[4]), target[4], atol=0.2)


def test_ridge_keeps_a_degenerate_calibration_near_identity():
    raw = np.array([[1.0, -5.0], [1.0, -5.0], [1.0, -5.0]])  # all fixations collapsed to one point
    target = np.array([[-8.0, -2.0], [0.0, -8.0], [8.0, -14.0]])
    m = fit_affine(raw, target, ridge=1.0)
    assert np.all(np.isfinite(m))
    assert np.allclose(m[:, :2], np.eye(2), atol=0.5)


def test_profile_round_trip_and_errors(tmp_path):
    raw = Screen().nine_points() * 0.8 + 1.0
    cal = Calibration.fit(raw, Screen().nine_points(), parse_screen("30x19+0.5"), model_sha256="ab" * 32)
    path = cal.save(tmp_path / "sub" / "p.json")
    back = Calibration.load(path)
    assert np.allclose(back.matrix, cal.matrix) and back.screen == Screen(30.0, 19.0, 0.5)
    assert back.model_sha256 == "ab" * 32 and back.points == 9
    with pytest.raises(ConfigError, match="calibrate first"):
        Calibration.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text(json.dumps(dict(version=1, matrix=[[1, 0], [0, 1]])))
    with pytest.raises(ConfigError, match="2x3"):
        Calibration.load(tmp_path / "bad.json")


def test_screen_mapping_and_parsing():
    s = Screen(24, 20, 2)
    assert s.to_pixels((0, 2), 640, 480) == (320, 0)
    assert s.to_pixels((-12, -18), 640, 480) == (0, 480)
    assert np.allclose(s.to_cm(*s.to_pixels((3, -7), 640, 480), 640, 480), (3, -7))
    pts = s.nine_points()
    assert pts.shape == (9, 2) and np.allclose(pts[4], (0, -8))
    with pytest.raises(ConfigError, match="WIDTHxHEIGHT"):
        parse_screen("30 by 19")


def test_schedule_collects_only_after_settling():
    sched = CalibrationSchedule(np.zeros((3, 2)), settle=2, collect=3)
    assert sched.frames == 15
    assert [sched.at(i) for i in (0, 1, 2, 4, 5)] == [(0, False), (0, False), (0, True), (0, True), (1, False)]
    assert sched.at(15) is None
    for i in range(15):
        sched.add(i, (i, -i))
    raw, target = sched.fixations()
    assert raw.tolist() == [[3, -3], [8, -8], [13, -13]]
