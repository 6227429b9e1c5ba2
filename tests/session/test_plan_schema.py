"""The plan schema: the malformed plans issue 11 found (14 of 42 gave tracebacks, others were taken
silently) each give one line naming the field path and a fix, before anything is created."""
import pytest
import yaml
from click.testing import CliRunner

from hostlink.cli import main
from hostlink.errors import ConfigError
from hostlink.session import Plan, load_plan

GOOD = {"name": "ok", "model": "tinytracker_int8.tflite", "boards": [{"port": "emu:imx500"}]}


def _plan(**changes):
    data = {k: (v if k != "boards" else [dict(b) for b in v]) for k, v in GOOD.items()}
    for key, value in changes.items():
        if key.startswith("board_"):
            data["boards"][0][key[len("board_"):]] = value
        else:
            data[key] = value
    return data


@pytest.mark.parametrize("changes, message, hint", [
    # wrong types that used to end in a traceback
    (dict(windows="five"), "windows must be a whole number from 1 to 100000, not the text 'five'", "windows: 5"),
    (dict(windows=[5]), "windows must be a whole number", "windows: 5"),
    (dict(period_us="0"), "period_us must be a whole number", "period_us: 0"),
    (dict(period_us=2.5), "period_us must be a whole number from 0 to 60000000, not 2.5", "period_us: 0"),
    (dict(frames_per_window={"n": 3}), "frames_per_window must be a whole number", "frames_per_window: 20"),
    (dict(min_window_s="1s"), "min_window_s must be a number", "min_window_s: 0"),
    (dict(name=12), "name must be 1 to 64 letters, digits, _ . -, not 12", "name: tinytracker"),
    (dict(name=["a"]), "name must be", "name: tinytracker"),
    (dict(model=5), "model must be a model path or bundled model name, not 5", "model: tinytracker_int8.tflite"),
    (dict(board_port=3), "boards[0].port must be a board address (text), not 3", "port: emu:imx500"),
    (dict(board_port=None), "boards[0].port must be a board address", "port: emu:imx500"),
    (dict(checks=[1, 2]), "checks must be a mapping of fields, not a list", "max_lost_fraction"),
    (dict(checks={"max_lost_fraction": "low"}), "checks.max_lost_fraction must be a number", "max_lost_fraction: 0.001"),
    (dict(board_supply_v="5V"), "boards[0].supply_v must be a number > 0 and <= 30, not the text '5V'", "supply_v: 5.0"),
    # values that used to be taken silently
    (dict(frames_per_window=True), "frames_per_window must be a whole number from 1 to 1000000, not true (a yes/no value)",
     "frames_per_window: 20"),
    (dict(boards="emu:imx500"), "boards must be a list of boards, not the text 'emu:imx500'", "boards: [emu:imx500]"),
    (dict(min_window_s=float("nan")), "min_window_s must be a finite number >= 0 and <= 86400, not nan", "min_window_s: 0"),
    (dict(settle_ms=float("inf")), "settle_ms must be a finite number", "settle_ms: 5"),
    (dict(checks={"max_lost_fraction": 1.5}), "checks.max_lost_fraction must be a finite number >= 0 and <= 1",
     "max_lost_fraction: 0.001"),
    (dict(board_supply_v=0), "boards[0].supply_v must be a finite number > 0", "supply_v: 5.0"),
    (dict(windows=10 ** 30), "windows must be from 1 to 100000", "windows: 5"),
    (dict(board_port=""), "boards[0].port: the port address is empty", "socket://HOST:PORT"),
    (dict(board_port="tcp://127.0.0.1"), "boards[0].port: 'tcp://127.0.0.1' names no port", "tcp://127.0.0.1:5555"),
    (dict(board_port="emu:imx500?realtime=banana"), "boards[0].port: realtime='banana'", "realtime=1"),
    (dict(board_monitor="emualted://ppk2"), "boards[0].monitor: 'emualted://ppk2' is not a monitor address "
                                            "(did you mean emulated://?)", "monitor: emulated://ppk2"),
    (dict(board_label="two words"), "boards[0].label must be 1 to 64 letters", "label: coral"),
    # unknown keys, with the closest known one
    (dict(frames=3), "frames is not a known field (did you mean 'frames_per_window'?)", "known fields: name, model"),
    (dict(window=3), "window is not a known field (did you mean 'windows'?)", "known fields"),
    (dict(board_suply_v=5), "boards[0].suply_v is not a known field (did you mean 'supply_v'?)", "port, monitor"),
    (dict(checks={"max_lost": 0.1}), "checks.max_lost is not a known field (did you mean 'max_lost_fraction'?)",
     "max_residual_samples"),
])
def test_malformed_plans_name_the_field_and_the_fix(changes, message, hint):
    with pytest.raises(ConfigError) as err:
        Plan.from_dict(_plan(**changes), where="plan.yaml")
    assert err.value.message == f"plan.yaml: {message}" or err.value.message.startswith(f"plan.yaml: {message}"), \
        err.value.message
    assert hint in err.value.hint and "\n" not in err.value.message + err.value.hint


def test_several_problems_are_counted_and_the_first_is_explained():
    with pytest.raises(ConfigError) as err:
        Plan.from_dict(_plan(windows=0, period_us=-1, name=""))
    assert err.value.message == ("plan: name must be 1 to 64 letters, digits, _ . -, not '' "
                                 "(and 2 more problems: windows, period_us)")


def test_a_non_utf8_file(tmp_path):
    p = tmp_path / "plan.yaml"
    p.write_bytes(b"name: caf\xe9\nmodel: m\n")
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(byte 0xe9 at offset 9\)") as err:
        load_plan(p)
    assert "UTF-8" in err.value.hint


@pytest.mark.parametrize("text, message", [
    ("model: m\nboards: [emu:imx500]\nwindows: 3\nwindows: 4\n", "line 4: the key 'windows' is given twice"),
    ("- model: m\n", "the plan must be a mapping of fields, not a list"),
    ("just text\n", "the plan must be a mapping of fields, not the text 'just text'"),
    ("model: m\nboards: [emu:imx500\n", "is not valid YAML at line 3"),
    ("model: !!python/object:os.system x\nboards: [emu:imx500]\n", "is not valid YAML"),
    ("", "model is missing"),
])
def test_files_that_are_not_plans(tmp_path, text, message):
    p = tmp_path / "plan.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        load_plan(p)


def test_a_good_plan_round_trips_through_the_session_store_format():
    plan = Plan.from_dict(_plan(board_supply_v=5, checks={"max_residual_samples": 2}))
    again = Plan.from_dict(yaml.safe_load(yaml.safe_dump(plan.as_dict())))
    assert again == plan and again.boards[0].supply_v == 5.0 and type(again.windows) is int


def test_a_plan_built_in_python_is_checked_the_same_way():
    plan = Plan.from_dict(GOOD)
    plan.frames_per_window = True
    with pytest.raises(ConfigError, match="frames_per_window must be a whole number"):
        plan.validate()


def test_cli_refuses_a_bad_plan_before_creating_anything(tmp_path):
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump(_plan(frames_per_window=True)))
    out = tmp_path / "sessions"
    r = CliRunner().invoke(main, ["session", "run", str(p), "--out", str(out), "--no-progress"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.stderr.splitlines() == [f"error: {p}: frames_per_window must be a whole number from 1 to 1000000, not true "
                                     "(a yes/no value)", "  hint: e.g. frames_per_window: 20"]
    assert not out.exists()
