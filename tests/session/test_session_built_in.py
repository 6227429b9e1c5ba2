"""Sessions on a board whose model is built into its firmware: an MLPerf Tiny DUT in energy mode,
each window one `infer N` measured between the DUT's two timestamp pulses."""
import pytest

from hostlink.session import Plan, run_session
from hostlink.session.preflight import SessionNotStarted


def plan(port: str, **extra) -> Plan:
    return Plan.from_dict({"name": "dut", "model": "ic01", "warmup_frames": 1, "frames_per_window": 2,
                           "windows": 2, "boards": [{"port": port, "label": "dut"}], **extra})


def test_energy_mode_dut_windows_are_measured_between_the_timestamp_pulses(tmp_path):
    store, summary = run_session(plan("emu:mlperftiny?mode=energy"), tmp_path, progress=False)
    assert summary["status"] == "complete"
    windows = store.windows("dut")
    assert [w["window"] for w in windows] == [1, 2]
    board = summary["boards"]["dut"]
    inference = board["stages"]["inference"]
    # the emulated reference DUT (NUCLEO-L4R5ZI, TFLM + CMSIS-NN) models ic01 near its published 704 ms
    assert 500 < inference["median_ms"] < 900
    for w in windows:
        (row,) = w["rows"]
        assert row["inferences"] == 2
        assert row["energy_mj"] == pytest.approx(row["mean_mw"] * row["duration_ms"] / 1e3, rel=0.02)
    manifest = store.manifest()["boards"]["dut"]
    assert manifest["model"]["built_in"] and manifest["model"]["name"] == "ic01"


def test_performance_mode_firmware_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(SessionNotStarted, match="performance-mode firmware"):
        run_session(plan("emu:mlperftiny"), tmp_path, progress=False)
    assert not any(tmp_path.iterdir())
