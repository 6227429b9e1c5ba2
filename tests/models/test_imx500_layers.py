"""IMX500 admission follows Sony's converter, as recorded in hostlink/data/imx500_layers.json.

The table is checked offline: every op it accepts is admitted, every op it refuses is refused
with the converter's own message, and whole published networks are judged by it. The MLPerf Tiny
reference models (Apache-2.0, hostlink/data/reference_models/mlperf_tiny/LICENSE) are used as
they are published.
"""
import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hostlink.errors import ConfigError
from hostlink.models import BoardLimits, analyze, check
from hostlink.models.admission import fmt_bytes
from hostlink.models import imx500_layers as il
from hostlink.testing.synth_models import GraphBuilder, tiny_int8_model
from hostlink.protocols import ErrorCode

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "hostlink" / "data"
MLPERF = DATA / "reference_models" / "mlperf_tiny"
TABLE = il.load_table()
MiB = 1024 * 1024


def _imx500(**kw) -> BoardLimits:
    base = dict(board="imx500", formats=frozenset({"tflite"}), model_store_bytes=8 * MiB, ram_bytes=8 * MiB,
                model_in_ram=True, supported_ops=None)
    base.update(kw)
    return BoardLimits(**base)


def _with_op(op: str) -> bytes:
    """conv -> OP -> DEQUANTIZE: an INT8 graph whose only unusual op is ``op``."""
    g = GraphBuilder(int8=True)
    x = g.conv2d(g.input((1, 8, 8, 3)), 4)
    return g.build([g.dequantize(g.unary(op, x))])


def test_table_records_versions_date_command_and_a_case_per_layer_type():
    doc = TABLE.doc
    assert doc["versions"]["imx500_converter"] and doc["versions"]["model_compression_toolkit"]
    assert doc["date"][:2] == "20" and doc["command"] == "make imx500-layers"
    assert "tools/imx500_layer_probe.py probe" in doc["probe_command"]
    layers = [c for c in TABLE.cases if c["kind"] == "layer"]
    assert len(layers) >= 50
    for c in layers:
        assert c["keras"] and c["message"] and isinstance(c["accepted"], bool), c["name"]
        # The op mapping was read from a real INT8 export, so every exported case has ops, and
        # an accepted case has the converter's memory report.
        if c["tflite_error"] is None:
            assert c["tflite_ops"], c["name"]
        if c["accepted"]:
            assert c["memory"]["usage_bytes"] > 0, c["name"]
    names = {c["name"] for c in layers}
    for must in ("average_pooling2d", "softmax", "global_average_pooling2d", "reduce_mean",
                 "upsampling2d_nearest", "upsampling2d_bilinear", "conv2d_transpose", "separable_conv2d"):
        assert must in names


@pytest.mark.parametrize("op", sorted(TABLE.ops))
def test_every_op_follows_the_table(op):
    v = TABLE.ops[op]
    refusals = check(analyze(_with_op(op)), _imx500())
    if v.accepted:
        assert refusals == [], (op, v.accepted_by)
    else:
        assert [r.code for r in refusals] == [ErrorCode.MODEL_OP_UNSUPPORTED]
        case = TABLE.case(v.refused_by[0])
        msg = refusals[0].message
        assert f"op {op}" in msg and case["keras"] in msg and case["message"] in msg
        assert TABLE.converter in msg


def test_accepted_ops_are_exactly_those_an_accepted_layer_becomes():
    from_cases = set()
    for c in TABLE.cases:
        if c["kind"] == "layer" and c["accepted"]:
            from_cases |= set(c["tflite_ops"])
    assert TABLE.accepted_ops() == from_cases
    from hostlink.models import IMX500_OPS
    assert IMX500_OPS == from_cases


@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "SOFTMAX", "MEAN", "RESIZE_NEAREST_NEIGHBOR",
                                "RESIZE_BILINEAR", "TRANSPOSE_CONV", "CONV_2D", "DEPTHWISE_CONV_2D"])
def test_ops_the_old_kernel_list_refused_follow_the_converter(op):
    """The tflite-micro-era list refused pooling by averaging, SOFTMAX, MEAN and upsampling; the
    converter's answer is what counts now, whichever way it went."""
    assert op in TABLE.ops, f"the probe has no layer that becomes {op}"
    assert (op in TABLE.accepted_ops()) == TABLE.ops[op].accepted


def test_op_no_probed_layer_becomes_is_refused_as_unknown():
    refusals = check(analyze(_with_op("LSTM")), _imx500())
    assert [r.code for r in refusals] == [ErrorCode.MODEL_OP_UNSUPPORTED]
    assert refusals[0].message.startswith("imx500 cannot run op LSTM: no layer probed against imxconv-tf")
    assert "unknown" in refusals[0].message


def test_refused_op_is_named_with_the_converter_message():
    """A table where the converter refused Softmax: a model with SOFTMAX is refused, naming the
    op, the layer and the converter's words (the committed table's own verdicts are checked
    op by op above)."""
    doc = copy.deepcopy(TABLE.doc)
    for c in doc["cases"]:
        if "SOFTMAX" in c["tflite_ops"]:
            c["accepted"], c["message"] = False, "[USOP] The network contains unsupported ops: Softmax"
    table = il.Imx500Table(doc)
    refusals = check(analyze(_with_op("SOFTMAX")), _imx500(converter=table))
    assert [r.code for r in refusals] == [ErrorCode.MODEL_OP_UNSUPPORTED]
    msg = refusals[0].message
    assert msg.startswith("imx500 cannot run op SOFTMAX (")
    assert "[USOP] The network contains unsupported ops: Softmax" in msg and TABLE.converter in msg
    assert check(analyze(_with_op("SOFTMAX")), _imx500()) == ([] if TABLE.ops["SOFTMAX"].accepted else refusals)


@pytest.mark.parametrize("name", ["vww_96_int8.tflite", "pretrainedResnet_quant.tflite"])
def test_mlperf_tiny_vision_models_are_admitted(name):
    report = analyze((MLPERF / name).read_bytes(), name=name)
    assert check(report, _imx500()) == []
    # The converter took the published float Keras model of the same network whole.
    net = {"vww_96_int8.tflite": "net_vww_96", "pretrainedResnet_quant.tflite": "net_pretrainedResnet"}[name]
    case = TABLE.case(net)
    assert case["accepted"], case["message"]
    # The published INT8 file keeps the Flatten as a RESHAPE that the batch-1 export folds into the
    # FC; every other op is the same.
    assert set(report.ops) - {"QUANTIZE", "DEQUANTIZE", "RESHAPE"} <= set(case["tflite_ops"])


@pytest.mark.parametrize("name", sorted(p.name for p in (DATA / "models").glob("*.tflite")))
def test_bundled_models_are_admitted(name):
    report = analyze((DATA / "models" / name).read_bytes(), name=name)
    assert check(report, _imx500()) == []


def test_bundled_architectures_converted_whole():
    for net in ("net_tinytracker", "net_tinytrackers", "net_qsegment"):
        assert TABLE.case(net)["accepted"], TABLE.case(net)["message"]


def test_emulator_profile_and_inspect_use_the_table():
    from hostlink.cli.inspect import board_limits, verdicts
    from hostlink.emulator.profiles import get_profile

    limits = get_profile("imx500").limits
    assert limits.converter is TABLE
    report = analyze(_with_op("LSTM"))
    got = verdicts(report, board_limits(("imx500",)))["imx500"]
    assert not got["ok"] and "op LSTM" in got["reasons"][0]["message"]


# ------------------------------------------------------------------ memory
def test_memory_model_refits_to_the_committed_coefficients():
    fresh = il.fit_memory_model(TABLE.cases)
    mm = TABLE.memory_model
    assert fresh["points"] == mm["points"] >= 8
    for part, coefs in mm["coefficients"].items():
        assert fresh["coefficients"][part] == pytest.approx(coefs, rel=1e-6, abs=1e-6)
    assert fresh["loo_max_pct"] == pytest.approx(mm["loo_max_pct"], abs=0.01)
    assert mm["loo_median_pct"] <= mm["loo_max_pct"]
    assert len(mm["per_point"]) == mm["points"]


def test_memory_model_predicts_the_converted_networks_within_its_error():
    for net in ("net_vww_96", "net_pretrainedResnet", "net_tinytracker", "net_qsegment"):
        c = TABLE.case(net)
        point = next(p for p in TABLE.memory_model["per_point"] if p["name"] == net)
        assert abs(point["loo_error_pct"]) <= TABLE.memory_model["loo_max_pct"]
        assert point["usage_bytes"] == c["memory"]["usage_bytes"]


def test_too_big_for_the_chip_is_refused_with_the_model_and_its_error():
    big = analyze(tiny_int8_model(input_shape=(1, 4, 4, 8), classes=70_000))  # ~9 M FC weights
    est = TABLE.memory_estimate(big)
    assert est.source == "memory model" and est.usage_bytes > TABLE.available_bytes
    refusals = check(big, _imx500(model_store_bytes=16 * MiB))
    assert [r.code for r in refusals] == [ErrorCode.MODEL_ARENA_TOO_LARGE]
    msg = refusals[0].message
    assert "of on-chip memory (predicted by the memory model" in msg and "leave-one-out error up to" in msg
    assert msg.endswith(f"but imx500 has {fmt_bytes(TABLE.available_bytes)}") or "bytes)" in msg


def test_converter_memory_report_overrides_the_model(tmp_path):
    small = analyze(tiny_int8_model())
    report = {"Memory Report": {"Memory Usage": "8.50MB", "Total Memory Available On Chip": "8388480B",
                                "Runtime Memory Physical Size": "8MB", "Model Memory Physical Size": "0.5MB",
                                "Fit In Chip": False}}
    rep = il.parse_memory_report(report)
    assert rep["usage_bytes"] == int(8.5 * MiB) and rep["available_bytes"] == 8388480
    refusals = check(small, _imx500(), memory_report=rep)
    assert [r.code for r in refusals] == [ErrorCode.MODEL_ARENA_TOO_LARGE]
    assert "by its imxconv-tf" in refusals[0].message and "memory report" in refusals[0].message
    assert check(small, _imx500()) == []


def test_not_a_memory_report_is_one_readable_error():
    with pytest.raises(ConfigError, match="not an imxconv-tf memory report"):
        il.parse_memory_report({"Name": "x"})


def test_missing_or_broken_table_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="is missing"):
        il.load_table(str(tmp_path / "none.json"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"versions": {}}))
    with pytest.raises(ConfigError, match="cannot be read"):
        il.load_table(str(bad))


# ------------------------------------------------------------------ the real converter
VENV = Path(os.environ.get("HOSTLINK_IMX500_VENV") or REPO / ".venv-imx500")


@pytest.mark.skipif(not (VENV / "bin" / "imxconv-tf").exists() or shutil.which("java") is None,
                    reason="needs Sony's IMX500 toolchain: run `make imx500-env` (TF 2.15, MCT, "
                           "imx500-converter, Java 17)")
def test_probe_rerun_agrees_with_the_committed_table(tmp_path):
    """Re-ask the real converter about a few layers and compare with the committed verdicts."""
    names = ["relu", "softmax", "global_average_pooling2d"]
    probe = [str(VENV / "bin" / "python"), str(REPO / "tools" / "imx500_layer_probe.py")]
    run = subprocess.run(probe + ["probe", "--out", str(tmp_path), "--no-networks", "--only", ",".join(names)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    out = tmp_path / "table.json"
    run = subprocess.run([sys.executable, probe[1], "collect", str(tmp_path), "--write", str(out), "--no-fit"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    fresh = {c["name"]: c for c in json.loads(out.read_text())["cases"]}
    for n in names:
        old = TABLE.case(n)
        assert fresh[n]["accepted"] == old["accepted"], (n, fresh[n]["message"])
        assert fresh[n]["tflite_ops"] == old["tflite_ops"]


def test_emulated_imx500_runs_what_the_converter_takes_even_where_tflite_micro_cannot():
    """GELU: imxconv-tf accepted it, tflite-micro has no kernel for it; the IMX500 runs no TFLM."""
    import hostlink

    assert TABLE.ops["GELU"].accepted
    with hostlink.connect("emu:imx500") as dev:
        assert dev.upload(_with_op("GELU"), name="gelu").loaded
        assert dev.upload((MLPERF / "vww_96_int8.tflite").read_bytes(), name="vww").loaded
    with hostlink.connect("emu:coralmicro") as dev:
        with pytest.raises(hostlink.errors.ModelRefused, match="GELU"):
            dev.upload(_with_op("GELU"), name="gelu")
