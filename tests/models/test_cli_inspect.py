"""`hostlink inspect`: tables, JSON and per-board verdicts from the emulator profiles."""
import json

import pytest
from click.testing import CliRunner

from hostlink.cli import main
from hostlink.testing.synth_models import tiny_float_model, tiny_int8_model


@pytest.fixture
def write(tmp_path):
    def _write(name, data):
        p = tmp_path / name
        p.write_bytes(data)
        return str(p)
    return _write


def _run(*args):
    return CliRunner().invoke(main, ["inspect", *args], catch_exceptions=False)


def test_json_has_the_documented_keys(write):
    path = write("tiny.tflite", tiny_int8_model(input_shape=(1, 16, 16, 3)))
    res = _run(path, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    for key in ("macs", "params", "size_bytes", "inputs", "outputs", "boards", "layers", "arena_bytes"):
        assert key in out
    assert out["macs"] == 16 * 16 * 8 * 27 + 16 * 16 * 8 * 9 + 4 * 16 * 16 * 8
    assert out["inputs"][0] == {"name": "input", "dtype": "int8", "shape": [1, 16, 16, 3],
                                "scale": 0.0078125, "zero_point": 0}
    assert set(out["boards"]) == {"imx500", "coralmicro", "spresense"}
    assert all(v == {"ok": True, "reasons": []} for v in out["boards"].values())
    assert out["arena_bytes"] > 2 * 16 * 16 * 8


def test_float_model_refused_everywhere_with_code(write):
    out = json.loads(_run(write("f.tflite", tiny_float_model()), "--json").output)
    for board, verdict in out["boards"].items():
        assert not verdict["ok"], board
        assert "MODEL_NOT_INT8" in [r["code"] for r in verdict["reasons"]]


def test_board_option_limits_and_names_the_ram(write):
    # Two 160x160x16 int8 maps live at once: ~800 KB of arena, over the Spresense main core's 768 KB.
    data = tiny_int8_model(input_shape=(1, 160, 160, 3), channels=16, classes=1)
    out = json.loads(_run(write("big.tflite", data), "--json", "--board", "spresense").output)
    assert list(out["boards"]) == ["spresense"]
    (reason,) = out["boards"]["spresense"]["reasons"]
    assert reason["code"] == "MODEL_ARENA_TOO_LARGE"
    assert "spresense has 768 KB" in reason["message"]


def test_tables(write):
    res = _run(write("tiny.tflite", tiny_int8_model()), "--board", "imx500")
    assert res.exit_code == 0, res.output
    for text in ("inputs and outputs", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "total",
                 "20,480", "peak tensor arena", "imx500", "accepted", "scale 0.0078125"):
        assert text in res.output, text


def test_bad_file_is_a_clean_error(write):
    res = CliRunner().invoke(main, ["inspect", write("x.tflite", b"not a model at all")])
    assert res.exit_code == 2
    assert "not a TFLite model" in res.output
    assert "Traceback" not in res.output
