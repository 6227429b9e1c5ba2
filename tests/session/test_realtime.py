"""Sessions on emulated boards in real time (the board clock is the wall clock): the markers the
monitor samples and the board's stage timestamps must tell the same time, session after session."""
import json

import pytest

from hostlink.power import align
from hostlink.session import Plan, SessionStopped, run_session


@pytest.mark.parametrize("board", ["imx500", "coralmicro"])
def test_realtime_sessions_pass_the_marker_check(tmp_path, board):
    floor = align.quantisation_samples(100_000, 1_000_000)
    for k in range(4):
        plan = Plan.from_dict({"name": f"rt{k}", "model": "tinytracker_int8.tflite", "warmup_frames": 1,
                               "frames_per_window": 5, "windows": 2,
                               "boards": [{"port": f"emu:{board}?realtime=1",
                                           "monitor": f"emulated://ppk2?seed={k}"}]})
        try:
            store, summary = run_session(plan, tmp_path, progress=False)
        except SessionStopped as err:  # pragma: no cover - the failure is the message
            pytest.fail(f"real-time session {k}: {err.message}")
        assert summary["status"] == "complete"
        for w in store.windows(board):
            assert w["cross_check"]["max_residual_samples"] <= floor + 0.1, (k, w["cross_check"])


def test_a_disagreement_names_the_edge_and_the_amount_not_the_firmware(tmp_path, monkeypatch):
    """Markers shifted by 12 samples on one edge: the window is refused with what disagreed by how
    much, and the hint does not blame firmware alone."""
    import hostlink.session.runner as runner

    real = runner.open_monitor

    def late_marker(address, board=None):
        mon = real(address, board=board)
        instrument = mon._instrument
        state = {"n": 0}

        def shifted(power_w, code):
            out = instrument(power_w, code)
            d = out["digital"]
            # the first inference stage (id 3) seen after warm-up ends 12 samples late
            ends = [i for i in range(1, len(d)) if d[i - 1] == 3 and d[i] != 3]
            if ends and state["n"] == 0 and mon._next_index > 0:
                i = ends[0]
                d[i:i + 12] = 3
                state["n"] += 1
            return out

        mon._instrument = shifted
        return mon

    monkeypatch.setattr(runner, "open_monitor", late_marker)
    plan = Plan.from_dict({"name": "x", "model": "tinytracker_int8.tflite", "warmup_frames": 0,
                           "frames_per_window": 4, "windows": 1,
                           "boards": [{"port": "emu:coralmicro", "monitor": "emulated://ppk2"}]})
    with pytest.raises(SessionStopped) as err:
        run_session(plan, tmp_path, progress=False)
    msg = err.value.message
    assert "disagree by up to" in msg and " us at 100 kS/s" in msg and "inference end" in msg
    assert "firmware" not in err.value.hint and "host" in err.value.hint
    (folder,) = tmp_path.iterdir()
    rejected = json.loads((folder / "coralmicro" / "window_001.rejected.json").read_text())
    assert "disagree" in rejected["reason"]
