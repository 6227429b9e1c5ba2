"""Energy in the demos: `gaze`, `segment` and `eval` with --monitor, against the emulator's own
booking of each stage (its timeline), and a monitor that stops in the middle of a run."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

import hostlink
from hostlink.bundled import bundled_model
from hostlink.cli import main
from hostlink.demos.energy import EnergyMeter
from hostlink.power import MonitorError


def _run(*args):
    return CliRunner().invoke(main, list(args), env={"DISPLAY": ""}, catch_exceptions=False)


@pytest.fixture(scope="module")
def short_clip(direction_clip):
    return direction_clip[0]


def test_gaze_energy_per_stage_matches_the_emulator(short_clip, tmp_path):
    """The done-when check: per-stage medians within 1 % of what the emulated board booked."""
    res = _run("gaze", "--board", "emu:imx500", "--monitor", "emulated://ppk2", "--video", str(short_clip),
               "--output", str(tmp_path / "out.avi"), "--log", str(tmp_path / "frames.jsonl"), "--no-profile", "--json")
    assert res.exit_code == 0, res.output
    e = json.loads(res.stdout)["energy"]
    assert e["frames_measured"] >= 30 and e["frames_without_energy"] == 0 and e["dropped"] is None
    truth = e["emulator_truth_mj"]
    assert set(e["stages_mj"]) == set(truth) == {"inference", "transfer"}
    for stage, mj in e["stages_mj"].items():
        assert mj == pytest.approx(truth[stage], rel=0.01), stage
    assert e["energy_mj"] == pytest.approx(sum(truth.values()), rel=0.01)
    assert 30 < e["idle_mw"] < 50  # the IMX500 profile idles at 40 mW
    assert e["err_bound_mj"] > 0 and e["mean_mw"] > e["idle_mw"]
    rows = [json.loads(line) for line in (tmp_path / "frames.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in rows] == list(range(len(rows)))  # logged in order, though energy comes a frame late
    measured = [r for r in rows if r.get("energy")]
    assert len(measured) == e["frames_measured"]
    one = measured[0]["energy"]
    assert set(one["stages"]) == {"inference", "transfer"}
    assert one["stages"]["inference"]["duration_ms"] == pytest.approx(measured[0]["board_ms"]["inference"], abs=0.02)
    assert one["energy_mj"] == pytest.approx(sum(s["energy_mj"] for s in one["stages"].values()), abs=1e-4)


def test_two_boards_side_by_side(short_clip, tmp_path):
    """The same frames to the IMX500 and the Coral Micro (Edge TPU path): two energies, one video twice as wide."""
    import cv2

    res = _run("gaze", "--board", "emu:imx500", "--board", "emu:coralmicro?path=edgetpu", "--monitor",
               "emulated://ppk2", "--video", str(short_clip), "--frames", "8", "--output", str(tmp_path / "o.avi"),
               "--log", str(tmp_path / "f.jsonl"), "--no-profile", "--json")
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    lanes = {b["board"]: b for b in s["boards"]}
    assert set(lanes) == {"imx500", "coralmicro"}
    imx, coral = lanes["imx500"]["energy"], lanes["coralmicro"]["energy"]
    assert "edge tpu" in lanes["coralmicro"]["engine"]
    assert coral["energy_mj"] > 10 * imx["energy_mj"]  # the comparison the overlay shows
    for e in (imx, coral):
        for stage, mj in e["stages_mj"].items():
            assert mj == pytest.approx(e["emulator_truth_mj"][stage], rel=0.01)
    rows = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert {r["board"] for r in rows} == {"imx500", "coralmicro"} and len(rows) == 16
    cap = cv2.VideoCapture(str(tmp_path / "o.avi"))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape[1] == 2 * 480  # the clip is 480 wide: one view per board


def test_segment_reports_energy_next_to_the_metrics(tmp_path):
    data = tmp_path / "fundus"
    assert _run("datasets", "make-synthetic", "--task", "segment", "--out", str(data), "-n", "2").exit_code == 0
    res = _run("segment", str(data / "images"), "--labels", str(data / "labels"), "--board", "emu:imx500",
               "--monitor", "emulated://ppk2", "--scale", "150", "--out", str(tmp_path / "out"), "--json")
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    e = s["energy"]
    assert s["overall"]["dice"] > 0 and e["frames_measured"] == sum(r["tiles"] for r in s["images"]) == 8
    assert e["energy_per_inference_mj"] == pytest.approx(sum(e["emulator_truth_mj"].values()), rel=0.01)
    for r in s["images"]:
        assert r["energy"]["energy_mj"] == pytest.approx(r["tiles"] * r["energy_per_inference_mj"], rel=1e-3)
        assert r["energy"]["stages"]["inference"]["duration_ms"] == pytest.approx(r["board_ms"]["inference"], abs=0.05)


def test_eval_reports_energy_per_inference(tmp_path):
    data = tmp_path / "gaze"
    assert _run("datasets", "make-synthetic", "--task", "gaze", "--out", str(data), "-n", "5").exit_code == 0
    res = _run("eval", "--data", str(data), "--board", "emu:imx500", "--monitor", "emulated://ppk2",
               "--out", str(tmp_path / "run"), "--json")
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    e = s["energy"]
    assert e["inferences_measured"] == 5 and e["inferences_without_energy"] == 0
    assert e["stages_mj"]["inference"] == pytest.approx(0.06, rel=0.01)  # 0.86 ms at 69.8 mW, the profile's
    lines = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert all(line["energy"]["energy_mj"] > 0 for line in lines)


def test_a_monitor_that_vanishes_is_reported_once_and_the_demo_goes_on(short_clip, tmp_path):
    """The fake PPK2 through the real driver, unplugged after 2000 samples (20 ms): every frame is
    still processed and logged, the frames after the loss are marked, the warning comes once."""
    res = _run("gaze", "--board", "emu:imx500", "--monitor", "fake-ppk2://?vanish=2000", "--video", str(short_clip),
               "--frames", "10", "--log", str(tmp_path / "f.jsonl"), "--no-profile", "--json")
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["frames"] == 10 and s["energy"]["frames_without_energy"] >= 1
    assert "vanished" in s["energy"]["dropped"]
    assert res.stderr.count("the power monitor stopped") == 1
    rows = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert len(rows) == 10 and rows[-1]["energy"] is None and rows[-1]["energy_missing"] is True


class _Unplugged:
    """An emulated monitor whose link fails after ``good`` reads."""

    def __init__(self, inner, good):
        self.inner, self.good = inner, good
        self.info = inner.info

    def read_available(self):
        self.good -= 1
        if self.good < 0:
            raise MonitorError("the monitor vanished (test)")
        return self.inner.read_available()

    def stop(self):
        self.inner.stop()

    def close(self):
        self.inner.close()


def test_meter_keeps_what_it_measured_before_the_loss():
    with hostlink.connect("emu:imx500") as dev:
        dev.upload(bundled_model("tinytracker_int8.tflite"))
        meter = EnergyMeter.open("emulated://ppk2", dev)
        meter.monitor = _Unplugged(meter.monitor, 4)
        spec = dev.model_info().inputs[0]
        x = np.zeros(spec.shape, spec.numpy_dtype)
        got = []
        for i in range(8):
            meter.submit(i, dev.capture(input=x)[0])
            got += meter.poll()
        got += meter.finish(dev, timeout_s=0.2)
        meter.close()
    assert [k for k, _ in got] == list(range(8))  # every frame answered, in order
    energies = [e for _, e in got]
    assert all(e is not None for e in energies[:3]) and all(e is None for e in energies[4:])
    assert meter.notice() and meter.notice() is None  # said once


@pytest.mark.parametrize("args, words", [
    (["--monitor", "nowhere"], "has no scheme"),
    (["--monitor", "emulated://ppk3"], "unknown emulated monitor"),
    (["--monitor", "ppk2://auto", "--monitor", "ppk2://auto"], "2 --monitor addresses for 1 boards"),
])
def test_bad_monitor_is_one_line(short_clip, args, words):
    res = _run("gaze", "--board", "emu:imx500", "--video", str(short_clip), "--frames", "2", "--no-profile", *args)
    assert res.exit_code != 0 and words in res.stderr and "Traceback" not in res.output
