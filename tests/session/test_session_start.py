"""A plan that cannot run fails before its session folder exists, and a session that fails before
it kept anything leaves no folder: no debris, and no advice to resume what would fail again."""
import json
import re

import pytest
from click.testing import CliRunner

from hostlink.cli import main
from hostlink.errors import ConfigError, HostlinkError
from hostlink.session import Plan, SessionNotStarted, SessionStopped, SessionStore, resume_session, run_session


def plan(port="emu:imx500", monitor="emulated://ppk2", model="tinytracker_int8.tflite", **kw):
    data = {"name": "s", "model": model, "warmup_frames": 0, "frames_per_window": 2, "windows": 2,
            "boards": [{"port": port, "monitor": monitor}]}
    data.update(kw)
    return Plan.from_dict(data)


@pytest.mark.parametrize("kw, message", [
    ({"port": "emu:imx501"}, r"imx501: unknown board 'imx501'"),
    ({"model": "no_such_model.tflite"}, r"imx500: model 'no_such_model.tflite' not found"),
    ({"monitor": "emulated://ppk3"}, r"imx500: unknown emulated monitor 'ppk3'"),
    ({"monitor": "emualted://ppk2"}, r"imx500: (unknown monitor scheme 'emualted'|'emualted://ppk2' is not a monitor address)"),
    ({"monitor": "emulated://ppk2?seed=abc"}, r"imx500: monitor address .* bad option value"),
    ({"monitor": "emulated://ppk2?sed=1"}, r"imx500: unknown option\(s\) sed"),
    ({"port": "emu:spresense"}, r"spresense: .*would refuse model 'tinytracker_int8.tflite': .*768 KB"),
])
def test_a_plan_that_cannot_run_writes_nothing(tmp_path, kw, message):
    """Refused by the plan's own checks (ConfigError) or by the checks against the boards and
    monitors (SessionNotStarted): either way before the folder exists."""
    out = tmp_path / "sessions"
    with pytest.raises((ConfigError, SessionNotStarted)) as err:
        run_session(plan(**kw), out, progress=False)
    assert re.search(message.split(": ", 1)[1], err.value.message), err.value.message
    if isinstance(err.value, SessionNotStarted):
        assert err.value.message.startswith("session not started: " + message.split(":")[0])
    assert "resume" not in err.value.message + (err.value.hint or "")
    assert not out.exists() or list(out.iterdir()) == []


def test_cli_unknown_board_one_line_no_folder_no_resume_advice(tmp_path):
    r = CliRunner().invoke(main, ["session", "run", "--board", "emu:imx501", "--out", str(tmp_path),
                                  "--no-progress"])
    assert r.exit_code != 0
    assert "unknown board 'imx501'" in r.output and len(r.output.strip().splitlines()) <= 2
    assert "Traceback" not in r.output and "resume" not in r.output
    assert list(tmp_path.iterdir()) == []


def test_a_failure_after_the_checks_but_before_any_window_removes_the_folder(tmp_path):
    """The board answers the checks, then is unplugged before the session reaches it."""
    import hostlink

    calls = []

    def connect(port):
        calls.append(port)
        if len(calls) > 1:
            raise HostlinkError("no board answers on emu:imx500", "is it plugged in?")
        return hostlink.connect(port)

    with pytest.raises(SessionNotStarted, match="no board answers.*nothing was measured, so its folder was removed") as err:
        run_session(plan(), tmp_path, progress=False, connect=connect)
    assert "resume" not in err.value.message + (err.value.hint or "")
    assert list(tmp_path.iterdir()) == []


def test_a_refusal_at_upload_removes_the_folder(tmp_path, monkeypatch):
    """A board that refuses the model although the host-side check passed (its own firmware rules)."""
    import hostlink.session.preflight as pre

    monkeypatch.setattr(pre, "_check_model", lambda info, path: None)
    with pytest.raises(SessionNotStarted, match="refused model .*768 KB.*folder was removed"):
        run_session(plan(port="emu:spresense"), tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_resume_that_cannot_run_changes_nothing(tmp_path, devices):
    calls = []

    def connect(port):
        calls.append(port)
        if len(calls) == 4:  # two checks, the first board's windows, then the second board
            raise KeyboardInterrupt
        return devices(port)

    p = plan(boards=[{"port": "emu:imx500"}, {"port": "emu:imx500", "label": "second"}])
    with pytest.raises(SessionStopped, match="interrupted"):
        run_session(p, tmp_path, progress=False, connect=connect)
    (folder,) = tmp_path.iterdir()
    before = (folder / "state.json").read_text()

    def gone(port):
        raise HostlinkError(f"no board answers on {port}", "plug it in")

    with pytest.raises(SessionNotStarted, match="session not resumed: second: no board answers"):
        resume_session(folder, progress=False, connect=gone)
    assert (folder / "state.json").read_text() == before
    _, summary = resume_session(folder, progress=False, connect=devices)
    assert summary["status"] == "complete"
    assert SessionStore.open(folder).completed_windows("second") == [1, 2]


def test_a_rejected_first_window_is_kept_as_evidence_without_resume_advice(tmp_path):
    with pytest.raises(SessionStopped, match="lost samples over threshold") as err:
        run_session(plan(monitor="emulated://ppk2?dropout=1.0"), tmp_path, progress=False)
    assert "resume" not in (err.value.hint or "")
    (folder,) = tmp_path.iterdir()
    assert json.loads((folder / "state.json").read_text())["status"] == "invalid"
