"""The per-layer cost model: layer extraction, the calibration table, the fit and its
leave-one-out errors, and the API the emulator calls."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from hostlink.errors import ConfigError, ModelFileError
from hostlink.models import analyze, cost
from hostlink.models import cost_fit as cf

ROOT = Path(__file__).resolve().parents[2]
REF = ROOT / "hostlink/data/reference_models/mlperf_tiny"
TABLE = ROOT / "hostlink/data/calibration/measurements.csv"
FITTED = ROOT / "hostlink/data/calibration/fitted.json"
MODELS = sorted((ROOT / "hostlink/data/models").glob("*.tflite")) + sorted(REF.glob("*.tflite"))


@pytest.fixture(scope="module")
def table():
    rows = cf.read_table(TABLE, ROOT)
    excluded = cf.exclusions(rows)
    return rows, excluded, [r for r in rows if r.id not in excluded]


@pytest.fixture(scope="module")
def full_fit(table):
    return cf.fit(table[2])


@pytest.fixture(scope="module")
def fitted():
    return json.loads(FITTED.read_text())


# --- layer extraction -----------------------------------------------------------------------

@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_layers_agree_with_inspect(path):
    report = analyze(path.read_bytes())
    lws = cost.layers(path)
    assert len(lws) == len(report.layers)
    assert sum(lw.macs for lw in lws) == report.macs
    assert [lw.op for lw in lws] == [layer.op for layer in report.layers]
    assert all(lw.op_class in cost.OP_CLASSES for lw in lws)
    assert all(lw.work >= 0 and lw.out_bytes > 0 for lw in lws)


def test_layers_classes_and_bytes_on_vww():
    lws = cost.layers(REF / "vww_96_int8.tflite")
    first = lws[0]
    # 3x3 conv over the RGB input: 96x96x3 int8 in, 48x48x8 out.
    assert (first.op, first.op_class, first.kernel) == ("CONV_2D", "shallow_conv", (3, 3))
    assert first.in_bytes == 96 * 96 * 3 and first.out_bytes == 48 * 48 * 8
    assert first.macs == 48 * 48 * 8 * 3 * 3 * 3
    assert lws[1].op_class == "depthwise" and lws[2].op_class == "pointwise"
    kinds = {lw.op_class for lw in lws}
    assert {"pointwise", "depthwise", "fc", "pooling", "movement", "other"} <= kinds
    assert {lw.op_class for lw in cost.layers(REF / "ad01_int8.tflite")} == {"fc"}
    ic = cost.class_work(cost.layers(REF / "pretrainedResnet_quant.tflite"))
    assert ic["conv"] > 10 * ic["pointwise"] > 0 and ic["elementwise"] > 0


def test_layers_bad_input_is_one_readable_error(tmp_path):
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"\x00" * 3)
    with pytest.raises(ModelFileError, match="truncated"):
        cost.layers(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        cost.layers(tmp_path / "missing.tflite")


# --- the calibration table ------------------------------------------------------------------

def test_table_macs_are_hostlinks_count(table):
    rows, _, _ = table
    counts = {}
    for r in rows:
        if r.model not in counts:
            counts[r.model] = analyze((ROOT / r.model).read_bytes()).macs
        assert r.macs == counts[r.model], r.id


def _harvest_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("harvest", ROOT / "tools/harvest_calibration.py")
    harvest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harvest)
    return harvest


def test_table_holds_the_harvest_scripts_hand_typed_rows():
    """The rows from outside the MLPerf Tiny results repositories are typed once, in
    tools/harvest_calibration.py (OTHER_ROWS, PAPER_ROWS); the committed table must hold each of
    them unchanged, so a re-harvest and the table cannot drift apart."""
    harvest = _harvest_module()
    with open(TABLE, newline="") as f:
        by_id = {r["id"]: r for r in csv.DictReader(f)}
    for extra in harvest.OTHER_ROWS + harvest.PAPER_ROWS:
        row = by_id[extra["id"]]
        assert {k: row[k] for k in extra} == extra, extra["id"]


# Generated code in ONNC's style: one CMSIS-NN call per layer, arguments named in comments.
_ONNC_CODE = """
arm_convolve_HWC_q7_basic_nonsquare((buf + 0) /* test0 */, 8 /* dim_im_in_x */, 8 /* dim_im_in_y */, 3 /* ch_im_in */, w0 /* w0 */, 6 /* ch_im_out */, 3 /* dim_kernel_x */, 3 /* dim_kernel_y */, 0 /* padding_x */, 0 /* padding_y */, 2 /* stride_x */, 2 /* stride_y */, b0 /* b0 */, 7 /* bias_shift */, 9 /* out_shift */, (buf + 192) /* t1 */, 4 /* dim_im_out_x */, 4 /* dim_im_out_y */, col /* bufferA */, NULL /* bufferB */);
arm_relu_q7((buf + 192) /* t1 */, 1 * 6 * 4 * 4 /* size */);
arm_depthwise_separable_conv_HWC_q7((buf + 192) /* t2 */, 4 /* dim_im_in */, 6 /* ch_im_in */, w1 /* w1 */, 6 /* ch_im_out */, 3 /* dim_kernel */, 1 /* padding */, 1 /* stride */, b1 /* b1 */, 3 /* bias_shift */, 4 /* out_shift */, (buf + 0) /* t3 */, 4 /* dim_im_out */, col /* bufferA */, NULL /* bufferB */);
arm_convolve_1x1_HWC_q7_fast_nonsquare((buf + 0) /* t3 */, 4 /* dim_im_in_x */, 4 /* dim_im_in_y */, 6 /* ch_im_in */, w2 /* w2 */, 10 /* ch_im_out */, 1 /* dim_kernel_x */, 1 /* dim_kernel_y */, 0 /* padding_x */, 0 /* padding_y */, 1 /* stride_x */, 1 /* stride_y */, b2 /* b2 */, 5 /* bias_shift */, 7 /* out_shift */, (buf + 96) /* t4 */, 4 /* dim_im_out_x */, 4 /* dim_im_out_y */, col /* bufferA */, NULL /* bufferB */);
arm_avepool_q7_HWC((buf + 96) /* t4 */, 4 /* dim_im_in */, 10 /* ch_im_in */, 4 /* dim_kernel */, 0 /* padding */, 4 /* stride */, 1 /* dim_im_out */, col /* bufferA */, (buf + 0) /* t5 */);
arm_fully_connected_q7((buf + 0) /* t5 */, w3 /* w3 */, 10 /* dim_vec */, 2 /* num_of_rows */, 4 /* bias_shift */, 6 /* out_shift */, b3 /* b3 */, (buf + 16) /* t6 */, col /* vec_buffer */);
arm_softmax_q7((buf + 16) /* t6 */, 1 * 2 /* dim_vec */, (buf + 18) /* t7 */);
"""


def test_harvest_reads_the_network_onnc_generated_code_runs():
    """The layer shapes of ONNC-style generated code become a network description whose built
    model has the MACs the calls compute (conv 4*4*27*6, depthwise 4*4*9*6, 1x1 4*4*6*10, FC 20)."""
    from hostlink.testing.synth_models import network_from_spec

    harvest = _harvest_module()
    want = 4 * 4 * 27 * 6 + 4 * 4 * 9 * 6 + 4 * 4 * 6 * 10 + 10 * 2
    assert harvest._onnc_macs(_ONNC_CODE) == want
    shape, layers = harvest._onnc_layers(_ONNC_CODE, "test")
    assert shape == [8, 8, 3]
    assert [layer["op"] for layer in layers] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "AVERAGE_POOL_2D",
                                                 "FULLY_CONNECTED", "SOFTMAX"]
    report = analyze(network_from_spec({"input": shape, "layers": layers}))
    assert report.macs == want
    # an op a description cannot hold: the row keeps the reference model rather than a wrong network
    assert harvest._onnc_layers(_ONNC_CODE + "arm_elementwise_add_s8(a /* x */);\n", "test") == ([], [])


def test_onnc_vww_rows_use_the_pruned_network_they_ran(table):
    """ONNC's v1.1 VWW code runs a channel-pruned MobileNet: its rows are fitted with that network
    (3.75 M MACs), the other VWW rows with the reference model (7.49 M)."""
    rows, _, _ = table
    vww = [r for r in rows if r.benchmark == "vww" and r.id.startswith("v")]
    onnc = [r for r in vww if r.runtime == "onnc"]
    assert len(onnc) == 3 and {r.macs for r in onnc} == {3747347}
    assert {r.macs for r in vww if r.runtime != "onnc"} == {7489664}
    # the committed .tflite is the description built (shapes only, seeded weights)
    from hostlink.testing.synth_models import network_from_spec

    spec = json.loads((ROOT / onnc[0].model).with_suffix(".json").read_text())
    assert all("c32ef94d19429ef1d318e9c7a60002a4bd70e11b" in s for s in spec["source"])
    assert (ROOT / onnc[0].model).read_bytes() == network_from_spec(spec)


def test_a_network_description_with_an_unknown_op_is_refused():
    from hostlink.testing.synth_models import network_from_spec

    with pytest.raises(ValueError, match="layer 1: op 'LSTM'"):
        network_from_spec({"input": [4, 4, 1], "layers": [{"op": "CONV_2D", "filters": 2, "kernel": 1},
                                                          {"op": "LSTM"}]})


def test_table_meets_the_coverage_target(table):
    rows, excluded, live = table
    pairs = {r.pair for r in live}
    assert len(live) >= 20 and len(pairs) >= 3
    assert {"cortex-m4f", "cortex-m7", "cortex-m33"} <= {c for c, _ in pairs}
    assert {r.benchmark for r in live} == {"vww", "ic", "kws", "ad"}
    # Every row names its source with a pinned commit or a paper; every exclusion has a reason.
    with open(TABLE, newline="") as f:
        for r in csv.DictReader(f):
            assert "@" in r["source"] or "arXiv" in r["source"], r["id"]
    assert all(excluded[k] for k in excluded)
    assert len({r.id for r in rows}) == len(rows)


# --- the fit ----------------------------------------------------------------------------------

def test_fit_reproduces_fitted_json(table, fitted, full_fit):
    _, _, live = table
    full = full_fit
    by_pair = {(p["core"], p["runtime"]): p for p in fitted["pairs"] if "derived_from" not in p}
    assert set(by_pair) == set(full.pairs)
    for pair in full.pairs:
        scale = math.exp(full.log_scale[full.pairs.index(pair)])
        assert by_pair[pair]["cycles_per_work"]["pointwise"] == pytest.approx(scale, rel=1e-3)
        assert by_pair[pair]["rows"] == sum(r.pair == pair for r in live)
    pred = dict(zip([r.id for r in live], full.predict_cycles(live)))
    for rid, rec in list(fitted["rows"].items())[::25]:
        r = next(x for x in live if x.id == rid)
        assert pred[rid] / (r.clock_mhz * 1e3) == pytest.approx(rec["pred_ms"], rel=1e-3)


def test_leave_one_out_refits_without_the_row(table, fitted, full_fit):
    """The stored LOO prediction of a row equals a fit made without the row and its replicates
    (started, as leave_one_out does, from the full fit), and differs from the in-sample
    prediction (an in-sample 'LOO' would make them equal)."""
    _, _, live = table
    picks = ["v1.2-renesas-ek-ra8d1-ad", "v0.5-reference-nucleo-l4r5zi-ad"]
    for rid in picks:
        row = next(r for r in live if r.id == rid)
        held = [r for r in live if r.pair == row.pair and r.benchmark == row.benchmark]
        train = [r for r in live if r not in held]
        again = cf.fit(train, start=full_fit).predict_cycles([row])[0] / (row.clock_mhz * 1e3)
        rec = fitted["rows"][rid]
        assert again == pytest.approx(rec["loo_ms"], rel=2e-3)
        assert abs(rec["loo_ms"] - rec["pred_ms"]) > 0.01 * rec["meas_ms"]


def test_leave_one_out_catches_an_outlier():
    """A row 3x off the others' pattern: in-sample the fit half-absorbs it, leave-one-out does
    not, so its LOO error is the larger one."""
    rows = cf.read_table(TABLE, ROOT)
    rows = [r for r in rows if r.runtime in ("x-cube-ai-7.1", "x-cube-ai-7.3") and not r.reason]
    target = next(r for r in rows if r.id == "v0.7-stmicroelectronics-nucleo-u575zi-q-kws")
    target.latency_ms *= 3.0
    full = cf.fit(rows)
    loo = cf.leave_one_out(rows, full)
    in_err = abs(full.predict_cycles([target])[0] / target.cycles - 1)
    loo_err = abs(loo[target.id] / target.cycles - 1)
    assert loo_err > in_err + 0.1
    assert loo_err > 0.5


def test_carried_over_pair_is_the_source_times_the_ratio(fitted):
    pairs = {(p["core"], p["runtime"]): p for p in fitted["pairs"]}
    m7 = pairs[("cortex-m7", "tflm-cmsis-nn")]
    src = pairs[(m7["derived_from"]["core"], "tflm-cmsis-nn")]
    ratio = m7["derived_from"]["cycle_ratio"]
    assert m7["rows"] == 0 and src["rows"] > 0
    assert m7["cycles_per_work"]["pointwise"] == pytest.approx(src["cycles_per_work"]["pointwise"] * ratio, rel=1e-3)
    # Its error includes the source pair's own leave-one-out error.
    assert m7["loo_median_abs_error"] > src["loo_median_abs_error"]


# --- the API the emulator calls ---------------------------------------------------------------

def test_load_fitted_and_predict_shape(fitted):
    params = cost.load_fitted()
    assert ("cortex-m4f", "tflm-cmsis-nn") in params
    p = params[("cortex-m4f", "tflm-cmsis-nn")]
    lws = cost.layers(REF / "vww_96_int8.tflite")
    pred = p.predict(lws, 120e6)
    assert len(pred.per_layer_us) == len(lws)
    assert pred.total_us == pytest.approx(sum(pred.per_layer_us) + pred.net_overhead_us)
    rec = next(x for x in fitted["pairs"] if (x["core"], x["runtime"]) == p.key)
    assert pred.rel_error == rec["loo_median_abs_error"]
    assert "measurements" in pred.source
    # EdgeMark's TFLM + CMSIS-NN on the NUCLEO-L4R5ZI: VWW at 120 MHz, 384.67 ms; the prediction is
    # within the pair's worst leave-one-out error of it.
    assert abs(pred.total_us / 384_667.5 - 1) <= p.max_rel_error
    # TF v2.3.1's TFLM (the MLPerf Tiny v0.5 reference, same board and clock: 600.6 ms) is its own pair.
    old = params[("cortex-m4f", "tflm-cmsis-nn-2.3.1")]
    assert abs(old.predict(lws, 120e6).total_us / 600_600.6 - 1) <= old.max_rel_error
    # Twice the clock, half the time: the parameters are in cycles.
    assert p.predict(lws, 240e6).total_us == pytest.approx(pred.total_us / 2)


@pytest.mark.parametrize("clock", [0, -1.0, float("nan"), None])
def test_predict_refuses_a_bad_clock(clock):
    p = next(iter(cost.load_fitted().values()))
    with pytest.raises(ConfigError, match="clock"):
        p.predict([], clock)


def test_load_fitted_bad_text_is_one_readable_error():
    with pytest.raises(ModelFileError, match="fitted"):
        cost.load_fitted("{not json")


@pytest.mark.parametrize("name,key", [
    ("NUCLEO_L4R5ZI-zephyr", "l4r5zi"), ("Nucleo-L4R5ZI", "l4r5zi"),
    ("NUCLEO-L4R5ZI_X-CUBE-AI-7.3", "l4r5zi"), ("NUCLEO_H7A3ZI_Q", "h7a3zi"),
    ("silicon_labs_xG24_DK2601B", "xg24"), ("Some-Other Board", "someotherboard")])
def test_board_key_names_one_board_once(name, key):
    """Results folders spell one board many ways; its memory-system deviation must be one."""
    assert cf.board_key(name) == key


def test_board_deviation_is_shared_by_runtimes_on_that_board(full_fit):
    """A board's deviation applies to every runtime on it and is fitted (not left at 0)."""
    assert "l4r5zi" in full_fit.boards
    k = full_fit.log_board[full_fit.boards.index("l4r5zi")]
    assert np.abs(k).max() > 1e-3
    a = full_fit.shape("x-cube-ai-7.3", "l4r5zi") / full_fit.shape("x-cube-ai-7.3")
    b = full_fit.shape("plumerai-v1.0", "l4r5zi") / full_fit.shape("plumerai-v1.0")
    assert a == pytest.approx(b)
    # An unseen board gets the typical board's shape.
    assert np.allclose(full_fit.shape("x-cube-ai-7.3", "unseen"), full_fit.shape("x-cube-ai-7.3"))


# --- runtime families -------------------------------------------------------------------------

def test_families_name_runtimes_of_the_table(table):
    """Every family member and every published ratio names a runtime the table has (a typo would
    silently make a family of one)."""
    doc = json.loads(cf.FAMILIES_PATH.read_text())
    runtimes = {r.runtime for r in table[0]}
    for fam in doc["families"].values():
        assert len(fam["members"]) >= 2 and set(fam["members"]) <= runtimes
    for rec in doc["published_ratios"]:
        assert {rec["runtime"], rec["against"]} <= runtimes and rec["source"]


@pytest.mark.parametrize("bad", [
    {"families": {"a": {"members": ["x", "y"]}, "b": {"members": ["y", "z"]}}, "published_ratios": []},
    {"families": {"a": {"members": ["x", "y"]}}, "published_ratios": [
        {"runtime": "x", "against": "q", "term": "fc", "speedup": 1.3}]},
    {"families": {"a": {"members": ["x", "y"]}}, "published_ratios": [
        {"runtime": "x", "against": "y", "term": "gemm", "speedup": 1.3}]},
])
def test_families_file_errors_are_named(tmp_path, bad):
    p = tmp_path / "families.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="families.json"):
        cf._load_families(p)


def _synthetic_rows(cost_of: dict[str, dict[str, float]]) -> list[cf.Row]:
    """Rows of the four reference networks on one core, timed by a known per-class cost (cycles
    per MAC or element) for each runtime."""
    rows = []
    for bench, name in (("vww", "vww_96_int8"), ("ic", "pretrainedResnet_quant"),
                        ("kws", "kws_ref_model"), ("ad", "ad01_int8")):
        w = cost.class_work(cost.layers(REF / f"{name}.tflite"))
        for rt, c in cost_of.items():
            cycles = sum(w[k] * c.get(k, c["element"]) for k in cost.OP_CLASSES) + \
                w["mac_outputs"] * c["output"]
            rows.append(cf.Row(id=f"{rt}-{bench}", board="NUCLEO-L4R5ZI", core="cortex-m4f", runtime=rt,
                               clock_mhz=100.0, benchmark=bench, model=name, macs=0,
                               latency_ms=cycles / 1e5, energy_uj=None, reason="", source="synthetic",
                               work=w))
    return rows


def test_a_release_keeps_its_familys_fully_connected_cost(monkeypatch):
    """Release B of a family rewrote its GEMM (1x1 and k x k convolutions 3x faster) and kept the
    fully connected kernel. Left out, B's AD is predicted from the family's fc cost; with no
    family it would be predicted at B's convolution speed-up, far too fast."""
    a = {"pointwise": 1.2, "conv": 3.0, "shallow_conv": 5.0, "depthwise": 1.0, "fc": 3.0,
         "element": 1.5, "output": 120.0}
    b = dict(a, pointwise=0.4, conv=1.0, shallow_conv=1.7)
    other = {"pointwise": 0.8, "conv": 1.6, "shallow_conv": 4.0, "depthwise": 0.6, "fc": 2.8,
             "element": 0.8, "output": 80.0}
    rows = _synthetic_rows({"rel-a": a, "rel-b": b, "other": other})
    held = next(r for r in rows if r.id == "rel-b-ad")
    train = [r for r in rows if r is not held]
    monkeypatch.setattr(cf, "RUNTIME_FAMILIES", {"rel-a": "fam", "rel-b": "fam"})
    monkeypatch.setattr(cf, "RELEASE_OFFSETS", {})
    with_family = cf.fit(train).predict_cycles([held])[0] / held.cycles - 1
    monkeypatch.setattr(cf, "RUNTIME_FAMILIES", {})
    alone = cf.fit(train).predict_cycles([held])[0] / held.cycles - 1
    assert abs(with_family) < 0.05
    assert alone < -0.15
