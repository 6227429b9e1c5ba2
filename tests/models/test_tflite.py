"""analyze(): models written here without TensorFlow, checked against LiteRT and hand counts."""
import json
import zipfile
import io

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from hypothesis import given, settings, strategies as st

from hostlink.errors import ModelFileError
from hostlink.models import analyze
from hostlink.testing.synth_models import GraphBuilder, tiny_float_model, tiny_int8_model


def _same(size, stride):
    return -(-size // stride)


def _valid(size, k, stride):
    return (size - k) // stride + 1


def _run_litert(data: bytes):
    """Load and invoke with random input; returns (interpreter, output array)."""
    it = Interpreter(model_content=data)
    it.allocate_tensors()
    for d in it.get_input_details():
        if d["dtype"] == np.float32:
            x = np.random.default_rng(0).uniform(-1, 1, d["shape"]).astype(np.float32)
        else:
            info = np.iinfo(d["dtype"])
            x = np.random.default_rng(0).integers(info.min, info.max, d["shape"]).astype(d["dtype"])
        it.set_tensor(d["index"], x)
    it.invoke()
    out = it.get_tensor(it.get_output_details()[0]["index"])
    return it, out


@pytest.mark.parametrize("int8", [True, False])
def test_tiny_models_run_in_litert_and_match_hand_counts(int8):
    data = tiny_int8_model() if int8 else tiny_float_model()
    it, out = _run_litert(data)
    assert out.shape == (1, 4)
    assert np.all(np.isfinite(out))
    r = analyze(data, name="tiny")
    # conv 3x3 SAME 3->8 on 8x8, depthwise 3x3 on 8x8x8, FC 512->4
    conv, dw, fc = 8 * 8 * 8 * 3 * 3 * 3, 8 * 8 * 8 * 3 * 3, 4 * (8 * 8 * 8)
    assert [layer.macs for layer in r.layers[:3]] == [conv, dw, fc]
    assert r.macs == conv + dw + fc
    assert r.params == (8 * 27 + 8) + (9 * 8 + 8) + (4 * 512 + 4)
    assert r.size_bytes == len(data)
    assert r.int8 is int8
    assert r.format == "tflite"
    assert r.custom_ops == []


def test_int8_report_matches_litert_details():
    data = tiny_int8_model(input_shape=(1, 12, 10, 1), channels=6, classes=3)
    it, _ = _run_litert(data)
    r = analyze(data)
    (inp,), (out,) = r.inputs, r.outputs
    d = it.get_input_details()[0]
    assert inp.dtype == "int8" and inp.shape == tuple(d["shape"])
    assert (inp.scale, inp.zero_point) == pytest.approx(d["quantization"])
    o = it.get_output_details()[0]
    assert out.dtype == "float32" and out.shape == tuple(o["shape"]) == (1, 3)
    assert (out.scale, out.zero_point) == (0.0, 0)  # DEQUANTIZE output is plain float
    assert r.ops == ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "DEQUANTIZE"]
    assert r.op_counts == {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "DEQUANTIZE": 1}
    # Every layer's output shape is the one LiteRT allocated for that tensor.
    shapes = {t["name"]: tuple(t["shape"]) for t in it.get_tensor_details()}
    assert [layer.output_shape for layer in r.layers] == [shapes["conv"], shapes["dwconv"], shapes["fc"],
                                                          shapes["dequantize"]]
    assert r.int8 and r.float_ops == []


def test_strided_valid_multiplier_and_quantize_edge():
    g = GraphBuilder(int8=True, seed=3)
    x = g.float_input((1, 17, 13, 3))
    x = g.quantize(x)
    x = g.conv2d(x, 5, 3, stride=2, padding="VALID", name="c1")
    x = g.depthwise_conv2d(x, 5, multiplier=2, stride=2, padding="SAME", name="d1")
    x = g.average_pool(x, 2, name="p1")
    x = g.fully_connected(x, 7, name="f1")
    x = g.dequantize(x)
    data = g.build([x])
    it, out = _run_litert(data)
    assert out.shape == (1, 7)

    h1, w1 = _valid(17, 3, 2), _valid(13, 3, 2)
    conv = h1 * w1 * 5 * 3 * 3 * 3
    h2, w2 = _same(h1, 2), _same(w1, 2)
    dw = h2 * w2 * 10 * 5 * 5
    h3, w3 = _valid(h2, 2, 2), _valid(w2, 2, 2)
    fc = 7 * (h3 * w3 * 10)
    r = analyze(data)
    assert [(layer.op, layer.macs) for layer in r.layers] == [
        ("QUANTIZE", 0), ("CONV_2D", conv), ("DEPTHWISE_CONV_2D", dw), ("AVERAGE_POOL_2D", 0),
        ("FULLY_CONNECTED", fc), ("DEQUANTIZE", 0)]
    assert r.inputs[0].dtype == "float32" and r.outputs[0].dtype == "float32"
    assert r.int8, "QUANTIZE/DEQUANTIZE at the edges keep a model INT8"
    assert r.layers[2].params == 5 * 5 * 10 + 10


def test_float_op_inside_int8_model_is_named():
    g = GraphBuilder(int8=True)
    x = g.input((1, 8, 8, 3))
    x = g.conv2d(x, 4)
    x = g.dequantize(x)
    g.int8 = False  # the rest computes in float: a partially quantized export
    x = g.conv2d(x, 4, name="float_conv")
    data = g.build([x])
    _run_litert(data)
    r = analyze(data)
    assert not r.int8
    assert r.float_ops == ["CONV_2D"]


def test_edgetpu_custom_op_sets_format():
    g = GraphBuilder(int8=True)
    x = g.input((1, 8, 8, 3))
    y = g.unary("edgetpu-custom-op", x)
    r = analyze(g.build([y]))
    assert r.format == "edgetpu-tflite"
    assert r.custom_ops == ["edgetpu-custom-op"]
    assert r.ops == ["edgetpu-custom-op"]
    assert r.int8


def test_to_json_is_plain_json():
    r = analyze(tiny_int8_model())
    blob = json.loads(json.dumps(r.to_json()))
    assert blob["macs"] == r.macs and blob["params"] == r.params
    assert blob["inputs"][0]["shape"] == [1, 8, 8, 3]
    assert blob["layers"][0]["op"] == "CONV_2D"


@settings(max_examples=25, deadline=None)
@given(h=st.integers(3, 20), w=st.integers(3, 20), c=st.integers(1, 6), oc=st.integers(1, 9),
       k=st.sampled_from([1, 3, 5]), stride=st.sampled_from([1, 2]),
       padding=st.sampled_from(["SAME", "VALID"]), mult=st.integers(1, 3), units=st.integers(1, 10))
def test_macs_match_shape_arithmetic(h, w, c, oc, k, stride, padding, mult, units):
    if padding == "VALID" and (h < k or w < k):
        return
    g = GraphBuilder(int8=True)
    x = g.input((1, h, w, c))
    x = g.conv2d(x, oc, k, stride=stride, padding=padding)
    x = g.depthwise_conv2d(x, k, multiplier=mult, padding="SAME")
    x = g.fully_connected(x, units)
    data = g.build([x])
    oh = _same(h, stride) if padding == "SAME" else _valid(h, k, stride)
    ow = _same(w, stride) if padding == "SAME" else _valid(w, k, stride)
    expected = oh * ow * oc * k * k * c + oh * ow * oc * mult * k * k + units * oh * ow * oc * mult
    assert analyze(data).macs == expected
    _, out = _run_litert(data)
    assert out.shape == (1, units)


# --- files that are not usable models -------------------------------------------------------

def _err(data) -> str:
    with pytest.raises(ModelFileError) as info:
        analyze(data, name="m.tflite")
    return str(info.value)


def test_empty_file():
    msg = _err(b"")
    assert "empty" in msg and "hint:" in msg


@pytest.mark.parametrize("cut", [3, 7])
def test_shorter_than_header(cut):
    assert "truncated" in _err(tiny_int8_model()[:cut])


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.6, 0.97])
def test_truncated_file_is_refused(fraction):
    data = tiny_int8_model()
    msg = _err(data[: int(len(data) * fraction)])
    assert "truncated" in msg
    assert "hint:" in msg


def test_zip_is_not_tflite():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("packerOut/dnnParams.xml", "<x/>")
    msg = _err(buf.getvalue())
    assert "not a TFLite model" in msg and "zip" in msg


def test_rpk_and_text_are_not_tflite():
    assert "rpk" in _err(b"9464" + bytes(60))
    assert "not a TFLite model" in _err(b"hello world, this is text")


def test_garbage_after_identifier_is_corrupt():
    # Whatever the bytes, the answer is a report or a ModelFileError, never another exception.
    rng = np.random.default_rng(5)
    refused = 0
    for _ in range(20):
        junk = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
        try:
            analyze(junk[:4] + b"TFL3" + junk[8:])
        except ModelFileError as err:
            assert "corrupt" in str(err) or "truncated" in str(err)
            refused += 1
    assert refused >= 15


def test_tinytracker_architecture_matches_the_paper_size():
    from hostlink.models import IMX500_OPS
    from hostlink.testing.synth_models import tinytracker_model

    data = tinytracker_model()
    _, out = _run_litert(data)
    assert out.shape == (1, 2) and out.dtype == np.float32
    r = analyze(data)
    # papers.md: 608 KB INT8 and 455 k params (Keras count: BN unfolded, conv without bias).
    assert abs(len(data) - 608 * 1024) < 0.05 * 608 * 1024
    assert abs(r.params - 455_000) < 0.08 * 455_000
    assert r.int8 and r.inputs[0].shape == (1, 112, 112, 5)
    assert set(r.ops) <= IMX500_OPS
    assert r.layers[-1].output_shape == (1, 2)
