import json

import numpy as np
import pytest
from click.testing import CliRunner

from hostlink.cli import main
from hostlink.power import Trace
from hostlink.session import Plan, run_session


def plan(**kw):
    data = {"name": "t", "model": "tinytracker_int8.tflite", "warmup_frames": 1, "frames_per_window": 4,
            "windows": 3, "boards": [{"port": "emu:imx500", "monitor": "emulated://ppk2"},
                                     {"port": "emu:coralmicro?path=edgetpu", "monitor": "emulated://ppk2?seed=2"}]}
    data.update(kw)
    return Plan.from_dict(data)


def truth_per_stage(board):
    """Ground truth from the emulator's own timeline: energy (mJ) of each stage, per frame."""
    out = {}
    for span in board.timeline:
        if span.stage:
            out.setdefault(int(span.stage), []).append(span.power_mw * (span.end_us - span.start_us) / 1e6)
    return {sid: float(np.mean(v)) for sid, v in out.items()}


def test_session_folder_summary_and_ground_truth(tmp_path, devices):
    # Frames within a window share one sampling phase (the frame period is a whole number of
    # samples); windows start at random phases, so eight of them average the edge quantisation.
    store, summary = run_session(plan(windows=8), tmp_path, progress=False, connect=devices)
    p = store.path
    for name in ("plan.yaml", "manifest.json", "state.json", "transcript.log", "frames.csv", "frames.json",
                 "summary.json", "summary.md", "energy.png", "trace_imx500.png", "trace_coralmicro.png"):
        assert (p / name).is_file(), name
    assert sorted(x.name for x in (p / "imx500").iterdir()) == [
        f"window_{i:03d}.{ext}" for i in range(1, 9) for ext in ("json", "npz")]
    assert json.loads((p / "state.json").read_text())["status"] == "complete"
    manifest = json.loads((p / "manifest.json").read_text())
    assert manifest["units"]["energy"] == "mJ" and manifest["boards"]["imx500"]["monitor"]["model"] == "emulated PPK2"
    trace = Trace.load(p / "imx500" / "window_001.npz")
    assert trace.sample_rate_hz == 100_000 and len(trace.samples) > 4 * 1900

    assert summary["status"] == "complete"
    for label in ("imx500", "coralmicro"):
        # the last device opened for the board is the one measured (earlier ones were checks)
        dev = [d for d in devices.opened if d.link.board.profile.name == label][-1]
        b = summary["boards"][label]
        assert b["frames"] == 32 and b["windows"] == 8 and b["lost_samples"] == 0
        truth = truth_per_stage(dev.link.board)
        from hostlink.protocols import Stage
        for name, s in b["stages"].items():
            assert s["mean_energy_mj"] == pytest.approx(truth[Stage[name.upper()]], rel=0.01), (label, name)
            assert s["median_ms"] == pytest.approx(s["device_median_ms"], abs=0.011)
        assert b["total_energy_mj"] == pytest.approx(sum(truth.values()), rel=0.01)
    imx, coral = summary["boards"]["imx500"], summary["boards"]["coralmicro"]
    # the TinyTracker comparison: ~19 ms / 4.9 mJ (IMX500 DSP) against 34.4 ms / 34.2 mJ (Coral Micro
    # Edge TPU), recovered from the sampled traces
    assert imx["total_ms"] == pytest.approx(19.0, rel=0.02)
    assert imx["total_energy_mj"] == pytest.approx(4.9, rel=0.02)
    assert coral["total_ms"] == pytest.approx(34.4, rel=0.02)
    assert coral["total_energy_mj"] == pytest.approx(34.2, rel=0.02)
    rows = json.loads((p / "frames.json").read_text())["rows"]
    assert len(rows) == 32 * 3 + 32 * 4
    assert (p / "frames.csv").read_text().splitlines()[0].startswith("board,window,frame,stage")


def test_jittered_frames_are_what_the_monitor_measures(tmp_path, devices):
    """With seeded jitter the stages vary frame to frame; the monitor samples that timeline, so
    the measured energy per stage still matches the board's ground truth."""
    p = plan(windows=2, boards=[{"port": "emu:imx500?jitter=0.05&seed=3", "monitor": "emulated://ppk2?seed=5"}])
    _, summary = run_session(p, tmp_path, progress=False, connect=devices)
    dev = [d for d in devices.opened if d.link.board.profile.name == "imx500"][-1]
    captures = [s.end_us - s.start_us for s in dev.link.board.timeline if s.stage == 1]
    assert len(set(captures)) > 5  # frames differ
    truth = truth_per_stage(dev.link.board)
    from hostlink.protocols import Stage
    b = summary["boards"]["imx500"]
    for name, s in b["stages"].items():
        assert s["mean_energy_mj"] == pytest.approx(truth[Stage[name.upper()]], rel=0.02), name


def test_cli_run_json_and_report(tmp_path):
    r = CliRunner().invoke(main, ["session", "run", "--board", "emu:imx500", "--monitor", "emulated://js220",
                                  "--frames", "3", "--windows", "1", "--warmup", "0", "--out", str(tmp_path),
                                  "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    b = out["boards"]["imx500"]
    assert set(b["stages"]) == {"capture", "inference", "transfer"}
    assert all({"median_ms", "energy_mj"} <= set(s) for s in b["stages"].values())
    assert b["total_ms"] == pytest.approx(19.0, rel=0.02) and b["total_energy_mj"] == pytest.approx(4.9, rel=0.02)
    assert b["sample_rate_hz"] == 1_000_000
    folder = out["session"]
    png = tmp_path / "cmp.png"
    md = tmp_path / "cmp.md"
    r = CliRunner().invoke(main, ["report", folder, folder, "--png", str(png), "--md", str(md)])
    assert r.exit_code == 0, r.output
    assert "| board |" in r.output and "1.00x" in r.output
    assert png.stat().st_size > 1000 and md.read_text().startswith("| board |")


def test_cli_rejects_a_monitor_count_mismatch(tmp_path):
    r = CliRunner().invoke(main, ["session", "run", "--board", "emu:imx500", "--board", "emu:coralmicro",
                                  "--monitor", "emulated://ppk2", "--monitor", "emulated://ppk2",
                                  "--monitor", "emulated://ppk2", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "3 --monitor for 2 boards" in r.output
