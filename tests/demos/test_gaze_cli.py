"""`hostlink gaze` end to end on synthetic clips through the emulated IMX500, headless."""
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from hostlink.cli import main

from .conftest import DIRECTION_SEGMENTS


def _gaze(*args, env=None, board="emu:imx500"):
    return CliRunner().invoke(main, ["gaze", "--board", board, *args], env=env, catch_exceptions=False)


#: (board, model, stages the board reports for a host-supplied input): TinyTracker on the IMX500,
#: TinyTrackerS (grey, 96x96; its MEAN op keeps it off the IMX500) on the Coral Micro's M7.
GAZE_RUNS = {"tinytracker": ("emu:imx500", None, {"inference", "transfer"}),
             "tinytrackers": ("emu:coralmicro", "tinytrackers_int8.tflite", {"preprocess", "inference", "transfer"})}


@pytest.fixture(scope="module", params=sorted(GAZE_RUNS))
def direction_run(request, direction_clip, tmp_path_factory):
    from hostlink.bundled import bundled_model

    board, model, stages = GAZE_RUNS[request.param]
    clip, labels = direction_clip
    out = tmp_path_factory.mktemp("gaze")
    model_args = ["--model", str(bundled_model(model))] if model else []
    res = _gaze("--video", str(clip), "--output", str(out / "overlay.avi"), "--snapshot", str(out / "snap.png"),
                "--log", str(out / "frames.jsonl"), "--no-profile", "--json", *model_args, env={"DISPLAY": ""},
                board=board)
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    return res, rows, labels, out, stages


def test_runs_headless_and_says_so(direction_run):
    res, rows, labels, out, _ = direction_run
    assert "running headless" in res.stderr
    summary = json.loads(res.stdout)
    assert summary["frames"] == len(labels) == len(rows)
    assert summary["detect"] == "sync"  # video files default to the deterministic in-loop search


def test_every_frame_finds_the_face_and_reaches_the_board(direction_run):
    _, rows, labels, _, stages = direction_run
    assert sum(r["face"] is not None for r in rows) >= len(rows) - 1
    for r in rows:
        if r["face"] is None:
            continue
        assert set(r["board_ms"]) == stages  # host input: no sensor capture stage
        assert r["board_ms"]["inference"] > 0 and r["raw_cm"] is not None
        assert r["host_ms"]["interpreter"] > 0 and r["host_side_ms"] > 0


def test_overlay_video_and_snapshot_are_written(direction_run):
    _, rows, _, out, _ = direction_run
    cap = cv2.VideoCapture(str(out / "overlay.avi"))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == len(rows)
    snap = cv2.imread(str(out / "snap.png"))
    assert snap.shape == (640, 480, 3)


def _mean(rows, labels, name, axis):
    vals = [r["raw_cm"][axis] for r, lab in zip(rows, labels) if lab == name and r["raw_cm"] is not None]
    assert vals, f"no prediction for the {name} segment"
    return float(np.mean(vals))


def test_gaze_point_moves_the_way_the_eyes_look(direction_run):
    """The eyes look 20 cm left, then right, then 18 cm up, then down; the predictions must follow.

    This checks the bundled model (trained on the same synthetic generator) as much as the plumbing:
    a model that predicts a constant point fails here. The synthetic eyes move less up and down
    than sideways (lids cover the iris), and the models follow y less closely: a weaker bar for y.
    """
    _, rows, labels, _, _ = direction_run
    span = {name: target for name, target, _ in DIRECTION_SEGMENTS}
    dx = _mean(rows, labels, "right", 0) - _mean(rows, labels, "left", 0)
    dy = _mean(rows, labels, "up", 1) - _mean(rows, labels, "down", 1)
    want_dx = span["right"][0] - span["left"][0]
    want_dy = span["up"][1] - span["down"][1]
    assert dx > 0.25 * want_dx, f"x moved {dx:+.2f} cm for a {want_dx:+.0f} cm change of target"
    assert dy > 0.1 * want_dy, f"y moved {dy:+.2f} cm for a {want_dy:+.0f} cm change of target"


def test_calibration_is_fitted_saved_and_reused(calibration_clip, tmp_path):
    clip, sched = calibration_clip
    profile = tmp_path / "profile.json"
    res = _gaze("--video", str(clip), "--calibrate", "--profile", str(profile), "--headless", "--json")
    assert res.exit_code == 0, res.output
    saved = json.loads(profile.read_text())
    assert saved["points"] >= 7 and len(saved["matrix"]) == 2
    assert "calibration saved" in res.stderr
    summary = json.loads(res.stdout)
    assert summary["calibration"] is None  # the summary is of the live part that follows
    assert summary["frames"] == 10

    log = tmp_path / "reuse.jsonl"
    res = _gaze("--video", str(clip), "--profile", str(profile), "--headless", "--frames", "3", "--log", str(log))
    assert res.exit_code == 0, res.output
    assert f"calibration: {profile}" in res.stderr
    m = np.array(saved["matrix"])
    for r in map(json.loads, log.read_text().splitlines()):
        if r["raw_cm"] is not None:
            assert np.allclose(r["gaze_cm"], m[:, :2] @ np.array(r["raw_cm"]) + m[:, 2], atol=1e-3)


def test_bad_inputs_are_explained(tmp_path):
    res = CliRunner().invoke(main, ["gaze", "--board", "emu:imx500", "--video", str(tmp_path / "none.mp4"), "--headless"])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = CliRunner().invoke(main, ["gaze", "--video", "x.mp4", "--camera", "0"])
    assert res.exit_code == 2 and "not both" in res.output
