"""The bundled INT8 models match their cards: bytes, input quantization, and the held-out metrics
recomputed here from the synthetic generator with the runtime's interpreter."""
import hashlib
import json

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from hostlink.bundled import models_dir
from hostlink.datasets import synthetic
from hostlink.datasets.facegrid import gaze_inputs, quantize_input

CARDS = sorted(models_dir().glob("*_int8.card.json"))
GAZE = {"tinytracker": (112, False), "tinytrackers": (96, True)}


def _card(name):
    return json.loads((models_dir() / f"{name}_int8.card.json").read_text())


def _run(model: bytes, x: np.ndarray) -> np.ndarray:
    # Builtin kernels, no XNNPACK: the same integer arithmetic build.py measured with.
    it = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    scale, zp = inp["quantization"]
    ys = []
    for sample in x:
        it.set_tensor(inp["index"], quantize_input(sample, scale, zp)[None])
        it.invoke()
        ys.append(it.get_tensor(out["index"])[0].copy())
    return np.stack(ys)


def test_the_three_bundled_models_have_cards():
    assert {c.name.removesuffix("_int8.card.json") for c in CARDS} >= {"tinytracker", "tinytrackers", "qsegment"}


@pytest.mark.parametrize("card_path", CARDS, ids=lambda p: p.name)
def test_card_describes_the_file_beside_it(card_path):
    card = json.loads(card_path.read_text())
    data = (card_path.parent / card["file"]["name"]).read_bytes()
    assert len(data) == card["file"]["bytes"]
    assert hashlib.sha256(data).hexdigest() == card["file"]["sha256"]
    it = Interpreter(model_content=data)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    assert inp["dtype"] == np.int8 and out["dtype"] == np.float32
    assert list(inp["shape"]) == card["input"]["shape"]
    assert inp["quantization"] == pytest.approx((card["input"]["scale"], card["input"]["zero_point"]))
    for key in ("trained_on", "metrics", "params", "macs", "build"):
        assert key in card
    assert card["trained_on"]["kind"] in ("synthetic", "GazeCapture", "CHASE_DB1")
    assert "command" in card["build"] and "seed" in card["training"]


@pytest.mark.parametrize("name", sorted(GAZE))
def test_gaze_int8_error_is_what_the_card_says(name):
    card = _card(name)
    size, grey = GAZE[name]
    data = card["trained_on"]
    if data["kind"] != "synthetic":
        pytest.skip("trained on a real dataset: its held-out set is not here")
    m = card["metrics"]
    assert m["int8_minus_float_cm"] <= 0.16  # the paper's bound on what INT8 may cost
    held = synthetic.gaze_samples(100, seed=data["heldout_seed"], size=size, grey=grey)
    pred = _run((models_dir() / f"{name}_int8.tflite").read_bytes(), gaze_inputs(held.faces, held.boxes))
    err = float(np.mean(np.linalg.norm(pred - held.targets, axis=1)))
    assert err == pytest.approx(m["int8_first100_mean_error_cm"], abs=0.01)
    assert err < m["predict_mean_baseline_cm"]  # it learned something beyond the mean target


def test_segmenter_int8_accuracy_is_what_the_card_says():
    card = _card("qsegment")
    data = card["trained_on"]
    if data["kind"] != "synthetic":
        pytest.skip("trained on a real dataset: its held-out set is not here")
    q = card["metrics"]["int8"]
    assert {"accuracy", "roc_auc", "dice"} <= set(q)
    held = synthetic.fundus_samples(20, seed=data["heldout_seed"])
    prob = _run((models_dir() / "qsegment_int8.tflite").read_bytes(),
                held.images.astype(np.float32) / 127.5 - 1)[..., 0]
    inside = held.fov.astype(bool)
    acc = float(np.mean((prob[inside] >= 0.5) == (held.masks[inside] > 0)))
    assert acc == pytest.approx(q["first20_accuracy"], abs=0.002)
    assert acc > 1 - held.masks[inside].mean()  # better than calling every pixel background
