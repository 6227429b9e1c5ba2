"""`hostlink convert`: the IMX500 toolchain wrapper, and its messages where a toolchain is missing.

The end-to-end conversion runs MCT and imxconv-tf for real and needs .venv-imx500
(`make imx500-env`); without it that test is skipped with the reason.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostlink.cli import main
from hostlink.errors import ConfigError
from hostlink.models import imx500_convert as ic

ENV = Path(os.environ.get("HOSTLINK_IMX500_VENV") or ic.REPO_ROOT / ".venv-imx500")
HAVE_ENV = (ENV / "bin" / "imxconv-tf").exists()


def _run(*args):
    return CliRunner().invoke(main, ["convert", *args])


def test_sizes_in_the_memory_report_parse_as_binary_units():
    assert ic.parse_size("550.03KB") == round(550.03 * 1024)
    assert ic.parse_size("8.00MB") == 8 * 1024 * 1024
    assert ic.parse_size("1.00KB") == 1024
    assert ic.parse_size(4096) == 4096
    assert ic.parse_size("10%") is None


def test_model_names_accept_the_bundled_file_names():
    assert ic.model_name("tinytracker") == "tinytracker"
    assert ic.model_name("hostlink/data/models/tinytrackers_int8.tflite") == "tinytrackers"
    assert ic.model_name("build/models/qsegment.weights.npz") == "qsegment"
    with pytest.raises(ConfigError, match="bundled models only"):
        ic.model_name("mobilenet.tflite")


def test_missing_weights_and_missing_toolchain_say_what_to_run(tmp_path):
    with pytest.raises(ConfigError) as err:
        ic.weights_for("qsegment", build_dir=tmp_path)
    assert "make models" in err.value.hint
    with pytest.raises(ConfigError) as err:
        ic.find_env(tmp_path / "no-venv")
    assert "make imx500-env" in err.value.hint


def test_converter_error_lines_are_reported_without_log_noise():
    log = ("2026-01-01 10:00:00,000 INFO : Converting x.keras [/x/uni/common/logger.py:179]\n"
           "2026-01-01 10:00:01,000 ERROR : CODE: [USOP] The network contains unsupported ops: "
           "keras.src.layers.preprocessing.image_preprocessing.Rescaling [/x/uni/common/logger.py:185]\n")
    assert ic._tool_error(log) == ("CODE: [USOP] The network contains unsupported ops: "
                                   "keras.src.layers.preprocessing.image_preprocessing.Rescaling")


def test_coral_micro_explains_that_edgetpu_compiler_is_not_available_here():
    res = _run("--board", "coralmicro", "tinytracker")
    assert res.exit_code == ConfigError.exit_code
    assert "edgetpu_compiler cannot be installed here" in res.output
    ok = _run("--board", "spresense", "tinytracker")
    assert ok.exit_code == 0 and "tflite-micro" in ok.output


def test_imx500_without_the_toolchain_points_at_make(tmp_path):
    res = _run("--board", "imx500", "--env", str(tmp_path / "none"), "qsegment")
    assert res.exit_code == ConfigError.exit_code
    assert "make imx500-env" in res.output


def test_representative_sets_match_the_model_inputs():
    from hostlink.datasets.representative import representative_set

    assert representative_set("tinytracker", 2).shape == (2, 112, 112, 5)
    assert representative_set("tinytrackers", 2).shape == (2, 96, 96, 3)
    q = representative_set("qsegment", 2)
    assert q.shape == (2, 96, 96, 3) and q.min() >= -1 and q.max() <= 1


# Untrained weights are enough to exercise the toolchain; the bundle is written by the IMX500
# venv's own TensorFlow in the layout tools/models/build.py uses.
_MAKE_BUNDLE = """
import sys, numpy as np
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])
import keras, imx500_worker, tinytracker
keras.utils.set_random_seed(0)
m = tinytracker.tinytrackers()
x = np.random.default_rng(0).uniform(-1, 1, (2, 96, 96, 3)).astype("float32")
arrays = {"probe_x": x, "probe_y": m.predict(x, verbose=0)}
layers = list(imx500_worker._flat_layers(m))
for i, layer in enumerate(layers):
    for j, w in enumerate(layer.get_weights()):
        arrays[f"l{i:03d}_{j}"] = w
arrays["layer_kinds"] = np.array([type(layer).__name__ for layer in layers])
np.savez(sys.argv[3], **arrays)
"""


@pytest.mark.skipif(not HAVE_ENV, reason=f"no IMX500 toolchain at {ENV}: run `make imx500-env`")
def test_tinytrackers_converts_and_fits_the_imx500(tmp_path):
    bundle = tmp_path / "tinytrackers.weights.npz"
    subprocess.run([str(ENV / "bin" / "python"), "-c", _MAKE_BUNDLE, str(ic.REPO_ROOT / "tools" / "models"),
                    str(ic.WORKER.parent), str(bundle)], check=True, capture_output=True, timeout=600)
    res = _run("--board", "imx500", "--env", str(ENV), "--samples", "16", "--out", str(tmp_path / "out"),
               "--json", str(bundle))
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["fits"] is True and out["Total Memory Available On Chip"] == "8.00MB"
    assert 0 < out["memory_usage_bytes"] < out["available_bytes"]
    assert out["mct"]["probe_max_abs_diff"] < 1e-3
    packer = Path(out["packer_out"])
    assert packer.read_bytes()[:4] == b"PK\x03\x04"
    report = json.loads(Path(out["memory_report"]).read_text())["Memory Report"]
    assert report["Fit In Chip"] is True
