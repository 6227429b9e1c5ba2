"""The board timing model: its sourced constants, the compute path each published figure belongs
to, the IMX500 DSP fit, seeded jitter, and one model shared by the emulator and `inspect`."""
import copy
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import hostlink
from hostlink.bundled import bundled_model
from hostlink.cli import main
from hostlink.emulator import stages as S
from hostlink.emulator.link import EmulatorLink, parse_emu_url
from hostlink.emulator.timing import board_frame, mcu_params, path_model
from hostlink.errors import ConfigError
from hostlink.protocols import Stage

MLPERF = Path(hostlink.__file__).parent / "data" / "reference_models" / "mlperf_tiny"
TT = "tinytracker_int8.tflite"


def tt_bytes() -> bytes:
    return bundled_model(TT).read_bytes()


def test_every_constant_has_a_source_and_a_missing_one_is_refused():
    doc = S.document()
    assert S.validate(doc) == []
    bad = copy.deepcopy(doc)
    bad["boards"]["spresense"]["paths"]["m4f-tflm"]["stages"]["capture"]["fixed_us"]["source"] = ""
    bad["boards"]["imx500"]["idle_mw"]["source"] = "guessed: looks right"
    problems = S.validate(bad)
    assert any("capture.fixed_us: no source" in p for p in problems)
    assert any("idle_mw: source 'guessed" in p for p in problems)


def test_reference_workload_is_the_bundled_model():
    from hostlink.models.tflite import analyze

    ref = S.document()["reference_workload"]
    r = analyze(tt_bytes())
    assert ref["model"] == TT
    assert S.value(ref["macs"]) == r.macs == S.document()["imx500_dsp"]["points"][0]["macs"]
    assert S.value(ref["input_bytes"]) == 112 * 112 * 5 and S.value(ref["output_bytes"]) == 2 * 4


def test_tinytracker_comparison_on_the_path_each_figure_belongs_to():
    imx = board_frame("imx500", tt_bytes())
    assert [round(s.duration_us / 1000, 2) for s in imx.stages] == [17.9, 0.86, 0.24]
    assert imx.frame_us == pytest.approx(19_000, abs=1) and imx.energy_mj == pytest.approx(4.9, rel=1e-4)
    tpu = board_frame("coralmicro", tt_bytes(), path="edgetpu")
    assert tpu.frame_us == pytest.approx(34_400, abs=1) and tpu.energy_mj == pytest.approx(34.2, rel=1e-4)
    assert tpu.stage(Stage.CAPTURE).duration_us == pytest.approx(1e6 / 51, rel=1e-6)  # HM01B0 at 51 fps


def test_the_coral_figure_cannot_be_the_m7():
    """The decision, by arithmetic: on the M7 through TFLM the model alone outlasts the paper's
    whole 34.4 ms frame, and fitting the M7 to it would need more MAC/cycle than the best vendor
    runtime on a Cortex-M7 reaches in the calibration table."""
    m7 = board_frame("coralmicro", tt_bytes(), path="m7-tflm")
    assert m7.stage(Stage.INFERENCE).duration_us > 34_400
    other = sum(s.duration_us for s in m7.stages if s.stage != Stage.INFERENCE)
    needed_mac_per_cycle = 14_068_684 / ((34_400 - other) * 800)
    import csv

    rows = list(csv.DictReader(open(Path(hostlink.__file__).parent / "data" / "calibration" / "measurements.csv")))
    best_m7 = max(float(r["macs"]) / (float(r["latency_ms"]) * 1e3 * float(r["clock_mhz"]))
                  for r in rows if r["core"] == "cortex-m7" and r["measure"] == "inference")
    assert needed_mac_per_cycle > best_m7 > 0.5


def test_plain_tflite_defaults_to_the_m7_and_path_edgetpu_is_explicit():
    with hostlink.connect("emu:coralmicro") as dev:
        assert dev.upload(tt_bytes(), name="tt").engine.startswith("cortex-m7")
    with hostlink.connect("emu:coralmicro?path=edgetpu") as dev:
        m = dev.upload(tt_bytes(), name="tt")
        r = dev.capture()[0]
    assert m.engine.startswith("edge tpu (emulated: timing of the compiled graph")
    assert r.total_ms == pytest.approx(34.4, abs=0.01)
    with pytest.raises(ConfigError, match="imx500 has no 'edgetpu' compute path"):
        hostlink.connect("emu:imx500?path=edgetpu")


def test_edgetpu_leaves_unmapped_ops_and_everything_after_to_the_m7():
    f = board_frame("coralmicro", tt_bytes(), path="edgetpu")
    units = [r.unit for r in f.layers]
    assert units[-1] == "cortex-m7" and f.layers[-1].op == "DEQUANTIZE"  # not in the Edge TPU's op table
    assert set(units[:-1]) == {"edgetpu"}


def test_imx500_dsp_fit_passes_both_published_points_and_reports_leave_one_out():
    fit = S.dsp_fit()
    for p in S.document()["imx500_dsp"]["points"]:
        assert fit.network_us + p["macs"] / fit.macs_per_us == pytest.approx(p["latency_us"])
    assert fit.network_us > 0 and len(fit.loo_errors) == 2
    assert fit.rel_error == max(abs(e) for e in fit.loo_errors) > 0.1  # two points: honest, wide


def test_mcu_inference_is_the_fitted_cost_model_at_the_board_clock():
    vww = (MLPERF / "vww_96_int8.tflite").read_bytes()
    f = board_frame("spresense", vww)
    params, note = mcu_params(path_model("spresense", "m4f-tflm").compute)
    assert note == "" and (params.core, params.runtime) == ("cortex-m4f", "tflm-cmsis-nn")
    from hostlink.models import cost

    expect = params.predict(cost.layers(vww), 156e6).total_us
    inf = f.stage(Stage.INFERENCE)
    assert inf.duration_us == pytest.approx(expect) and inf.rel_error == params.rel_error
    # the same cycles at 120 MHz: EdgeMark's TFLM + CMSIS-NN on the NUCLEO-L4R5ZI measured 384.67 ms
    assert expect * 156 / 120 == pytest.approx(384.67e3, rel=max(params.max_rel_error, 0.05))


@pytest.mark.parametrize("board", ["coralmicro", "spresense"])
@pytest.mark.parametrize("model", ["vww_96_int8.tflite", "pretrainedResnet_quant.tflite"])
def test_mlperf_reference_models_run_on_the_mcu_boards(board, model):
    with hostlink.connect(f"emu:{board}") as dev:
        m = dev.upload((MLPERF / model).read_bytes(), name=model)
        r = dev.capture()[0]
    assert m.loaded and r.outputs[0].size > 0
    assert r.total_ms == pytest.approx(m.expected_frame_us / 1000, abs=0.01)


def test_mlperf_reference_models_on_the_imx500_run_or_name_the_limit():
    """Admission is the converter's table (hostlink/models/admission.py); either the model runs, or
    the refusal names what the IMX500 cannot take."""
    for model in ("vww_96_int8.tflite", "pretrainedResnet_quant.tflite"):
        with hostlink.connect("emu:imx500") as dev:
            try:
                dev.upload((MLPERF / model).read_bytes(), name=model)
            except hostlink.errors.ModelRefused as err:
                assert "imx500" in err.message and ("cannot run" in err.message or "KB" in err.message), err.message
            else:
                assert dev.capture()[0].stages["inference"].duration_ms > 0


def _durations(url: str, n: int = 4) -> list[list[float]]:
    link = EmulatorLink(*parse_emu_url(url)[:1], **parse_emu_url(url)[1])
    dev = hostlink.Device(link)
    dev.hello()
    dev.upload(tt_bytes(), name="tt")
    link.board.timeline.clear()
    frames = dev.capture(count=n)
    spans = [s for s in link.board.timeline if s.stage]
    # what the power layer samples is the jittered timeline, span for span
    got = [s.end_us - s.start_us for s in spans]
    reported = [v.end_us - v.start_us for r in frames for v in r.stages.values()]
    assert np.allclose(got, reported, atol=1.0)  # the board reports whole microseconds
    k = len(frames[0].stages)
    return [got[i:i + k] for i in range(0, len(got), k)]  # exact durations, per frame


def test_jitter_is_seeded_and_off_by_default():
    plain = _durations("emu:imx500")
    assert all(f == plain[0] for f in plain)
    a = _durations("emu:imx500?jitter=0.02&seed=1")
    b = _durations("emu:imx500?jitter=0.02&seed=1")
    c = _durations("emu:imx500?jitter=0.02&seed=2")
    assert a == b and a != c
    assert len({tuple(f) for f in a}) == len(a)  # frames differ
    ratio = np.array(a) / np.array(plain)
    assert np.all(np.abs(ratio - 1) <= 0.06 + 1e-9) and np.std(ratio) > 0.005  # sigma 2 %, clipped at 3 sigma


@pytest.mark.parametrize("url, message", [
    ("emu:imx500?jitter=0.9", "jitter=0.9 is not a fraction between 0 and 0.3"),
    ("emu:imx500?jitter=lots", "jitter='lots'"),
    ("emu:imx500?seed=-1", "seed=-1 is not a non-negative integer"),
])
def test_bad_jitter_options_are_one_readable_error(url, message):
    with pytest.raises(ConfigError, match=message):
        hostlink.connect(url)


def test_inspect_per_layer_times_add_up_to_the_stage_the_emulator_runs(tmp_path):
    model = tmp_path / TT
    model.write_bytes(tt_bytes())
    r = CliRunner().invoke(main, ["inspect", str(model), "--board", "coralmicro", "--board", "imx500", "--json"])
    assert r.exit_code == 0, r.output
    timing = json.loads(r.output)["timing"]
    assert set(timing) == {"coralmicro", "imx500"} and set(timing["coralmicro"]) == {"m7-tflm", "edgetpu"}
    for board, paths in timing.items():
        for path, t in paths.items():
            inf = next(s for s in t["stages"] if s["stage"] == "inference")
            assert sum(x["us"] for x in t["layers"]) + t["overhead_us"] == pytest.approx(inf["ms"] * 1000)
            assert t["total_ms"] == pytest.approx(sum(s["ms"] for s in t["stages"]))
            assert [x["index"] for x in t["layers"]] == list(range(len(t["layers"])))
            assert all(s["source"] for s in t["stages"])
    m7 = next(s for s in timing["coralmicro"]["m7-tflm"]["stages"] if s["stage"] == "inference")
    # no public TFLM measurement on a Cortex-M7: the M4F's TFLM fit is carried over, and says so
    assert m7["rel_error"] is not None
    assert all(word in m7["source"] for word in ("tflm-cmsis-nn", "cortex-m4f", "cortex-m7"))
    # the emulator times the same frame
    with hostlink.connect("emu:coralmicro?path=edgetpu") as dev:
        dev.upload(tt_bytes(), name="tt")
        got = dev.capture()[0]
    assert got.total_ms == pytest.approx(timing["coralmicro"]["edgetpu"]["total_ms"], abs=0.005)
    text = CliRunner().invoke(main, ["inspect", str(model), "--board", "spresense"]).output
    assert "refused" in text and "predicted" not in text  # no timing for a board that refuses it
