"""Sessions that do not go to plan: they stop, keep every completed window and say why."""
import json

import pytest

from hostlink.errors import ConfigError
from hostlink.session import Plan, SessionNotStarted, SessionStopped, SessionStore, resume_session, run_session


def plan(monitor="emulated://ppk2", windows=3, boards=("emu:imx500",), **kw):
    data = {"name": "f", "model": "tinytracker_int8.tflite", "warmup_frames": 1, "frames_per_window": 4,
            "windows": windows, "boards": [{"port": b, "monitor": monitor} for b in boards]}
    data.update(kw)
    return Plan.from_dict(data)


def only_folder(tmp_path):
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    return SessionStore.open(folder)


def test_the_real_ppk2_driver_through_the_fake_device(tmp_path, devices):
    store, summary = run_session(plan("fake-ppk2://?partial=5&noise_ua=30"), tmp_path, progress=False,
                                 connect=devices)
    b = summary["boards"]["imx500"]
    assert b["monitor"] == "PPK2" and b["frames"] == 12 and b["lost_samples"] == 0
    # PPK2 spike filter and quantisation included, the frame still adds up
    assert b["total_energy_mj"] == pytest.approx(4.9, rel=0.02)


def test_lost_samples_over_threshold_fail_loudly(tmp_path):
    with pytest.raises(SessionStopped, match="lost samples over threshold") as err:
        run_session(plan("emulated://ppk2?dropout=1.0"), tmp_path, progress=False)
    assert err.value.exit_code == 5 and "USB" in err.value.hint
    store = only_folder(tmp_path)
    state = store.state()
    assert state["status"] == "invalid" and "lost samples" in state["reason"]
    # Every read loses a run of 1 to 200 samples, so a window can by chance lose fewer than the
    # threshold (0.1 %) and pass: the session stops at the first window that does not, keeps its
    # trace as evidence and every window before it as completed.
    (rejected,) = sorted((store.path / "imx500").glob("window_*.rejected.npz"))
    index = int(rejected.name[len("window_"):][:3])
    assert store.completed_windows("imx500") == list(range(1, index))
    assert "rejected" in (store.path / "transcript.log").read_text()


def test_lost_samples_from_the_fake_ppk2_counter(tmp_path):
    # runs of 40 words never sent: the counter finds them, the window is rejected
    lose = ",".join(f"{k}:40" for k in range(3000, 60000, 3000))
    with pytest.raises(SessionStopped, match=r"lost samples over threshold: [1-9][0-9]*0 of"):
        run_session(plan(f"fake-ppk2://?lose={lose}", windows=2), tmp_path, progress=False)


def test_a_monitor_that_vanishes_mid_session(tmp_path):
    with pytest.raises(SessionStopped, match="vanished") as err:
        run_session(plan("fake-ppk2://?vanish=200000", windows=40), tmp_path, progress=False)
    assert "session resume" in err.value.hint
    store = only_folder(tmp_path)
    state = store.state()
    kept = store.completed_windows("imx500")
    assert state["status"] == "failed" and "vanished" in state["reason"]
    assert 1 <= len(kept) < 40
    summary = json.loads((store.path / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["boards"]["imx500"]["windows"] == len(kept)
    assert f"Kept {len(kept)} complete window(s)" in err.value.message


def test_interrupted_session_resumes_where_it_stopped(tmp_path, devices):
    calls = []

    def connect(port):
        calls.append(port)
        if len(calls) == 4:  # two checks before the folder exists, then the boards in turn
            raise KeyboardInterrupt
        return devices(port)

    with pytest.raises(SessionStopped, match="interrupted by the user") as err:
        run_session(plan(windows=2, boards=("emu:imx500", "emu:coralmicro")), tmp_path, progress=False,
                    connect=connect)
    assert err.value.exit_code == 130
    store = only_folder(tmp_path)
    assert store.state()["status"] == "interrupted"
    first = store.path / "imx500" / "window_002.json"
    before = first.stat().st_mtime_ns
    assert store.completed_windows("coralmicro") == []

    _, summary = resume_session(store.path, progress=False, connect=devices)
    assert summary["status"] == "complete"
    assert store.completed_windows("coralmicro") == [1, 2] and store.completed_windows("imx500") == [1, 2]
    assert first.stat().st_mtime_ns == before  # completed windows are not run again
    assert set(summary["boards"]) == {"imx500", "coralmicro"}
    assert "resuming after: interrupted" in (store.path / "transcript.log").read_text()


def test_marker_discontinuity_is_reported(tmp_path, monkeypatch):
    import hostlink.session.runner as runner

    real = runner.open_monitor

    def stuck_bit(address, board=None):
        mon = real(address, board=board)
        mon._mask = 0b011  # marker bit 2 not wired: the IMX500's transfer (id 4) reads as idle
        return mon

    monkeypatch.setattr(runner, "open_monitor", stuck_bit)
    with pytest.raises(SessionStopped, match="marker discontinuity"):
        run_session(plan(), tmp_path, progress=False)


def test_too_few_marker_inputs_is_refused_before_measuring(tmp_path):
    with pytest.raises(SessionNotStarted, match="imx500: stage ids up to 4 need 3 marker inputs; the emulated JS110 has 2"):
        run_session(plan("emulated://js110"), tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_resume_of_a_non_session_folder(tmp_path):
    with pytest.raises(ConfigError, match="not a hostlink session folder"):
        resume_session(tmp_path)
