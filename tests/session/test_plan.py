import pytest

from hostlink.errors import ConfigError
from hostlink.session import Plan, load_plan, resolve_model


def test_example_plan_loads():
    plan = load_plan("examples/tinytracker.yaml")
    assert [plan.label_of(i) for i in range(len(plan.boards))] == ["imx500", "coralmicro"]
    assert plan.boards[0].monitor == "emulated://ppk2" and plan.windows >= 1
    assert resolve_model(plan.model).name == "tinytracker_int8.tflite"


@pytest.mark.parametrize("data, message", [
    ({"model": "m", "boards": []}, "boards is empty"),
    ({"boards": ["emu:imx500"]}, "model is missing"),
    ({"model": "m", "boards": ["emu:imx500"], "frames": 3}, "frames is not a known field .did you mean 'frames_per_window'"),
    ({"model": "m", "boards": [{"port": "emu:imx500", "colour": 1}]}, r"boards\[0\]\.colour is not a known field"),
    ({"model": "m", "boards": ["emu:imx500", "emu:imx500"]}, "share the label"),
    ({"model": "m", "boards": ["emu:imx500"], "windows": 0}, "windows must be from 1 to"),
    ({"model": "m", "boards": ["emu:imx500"], "name": "a b"}, "letters, digits"),
])
def test_bad_plans_say_what_is_wrong(data, message):
    with pytest.raises(ConfigError, match=message):
        Plan.from_dict(data)


def test_unknown_model_lists_the_bundled_ones():
    with pytest.raises(ConfigError, match="not found") as err:
        resolve_model("nope.tflite")
    assert "tinytracker_int8.tflite" in err.value.hint


def test_bad_yaml(tmp_path):
    p = tmp_path / "plan.yaml"
    p.write_text("boards: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_plan(p)
