"""admission.check(): codes and messages that name the limit and the numbers."""
import pytest

from hostlink.models import IMX500_OPS, BoardLimits, analyze, check
from hostlink.models.admission import fmt_bytes
from hostlink.models.imx500_layers import load_table
from hostlink.testing.synth_models import GraphBuilder, tiny_float_model, tiny_int8_model
from hostlink.protocols import ErrorCode

KiB = 1024


def _limits(**kw):
    base = dict(board="testboard", formats=frozenset({"tflite"}), model_store_bytes=4 * 1024 * KiB,
                ram_bytes=768 * KiB, model_in_ram=True, supported_ops=None)
    base.update(kw)
    return BoardLimits(**base)


def _codes(refusals):
    return [r.code for r in refusals]


def test_int8_model_is_admitted():
    r = analyze(tiny_int8_model(), with_arena=True)
    assert check(r, _limits()) == []
    assert check(r, _limits(supported_ops=IMX500_OPS, model_in_ram=False)) == []


def test_float_model_refused_naming_the_ops():
    refusals = check(analyze(tiny_float_model()), _limits())
    assert _codes(refusals) == [ErrorCode.MODEL_NOT_INT8]
    msg = refusals[0].message
    assert "testboard" in msg and "CONV_2D" in msg and "FULLY_CONNECTED" in msg


def test_float_model_allowed_when_board_does_not_require_int8():
    assert check(analyze(tiny_float_model()), _limits(requires_int8=False)) == []


def test_model_larger_than_store():
    r = analyze(tiny_int8_model())
    refusals = check(r, _limits(model_store_bytes=r.size_bytes - 1))
    assert _codes(refusals) == [ErrorCode.MODEL_TOO_LARGE]
    # The sizes round to the same KB, so the message shows the bytes.
    assert f"{r.size_bytes:,} bytes" in refusals[0].message
    assert f"{r.size_bytes - 1:,} bytes" in refusals[0].message


def test_arena_plus_model_over_ram_names_both_parts():
    r = analyze(tiny_int8_model(input_shape=(1, 64, 64, 3), channels=16), with_arena=True)
    ram = r.arena_bytes + r.size_bytes - 1
    refusals = check(r, _limits(board="spresense", ram_bytes=ram, ram_where="for the main core"))
    assert _codes(refusals) == [ErrorCode.MODEL_ARENA_TOO_LARGE]
    msg = refusals[0].message
    assert msg.startswith("model needs ")
    assert f"(arena {fmt_bytes(r.arena_bytes)} + model {fmt_bytes(r.size_bytes)})" in msg
    assert "but spresense has" in msg and msg.endswith("for the main core")
    # With the model in flash only the arena counts, and it fits.
    assert check(r, _limits(ram_bytes=ram, model_in_ram=False)) == []


def test_arena_alone_over_ram():
    r = analyze(tiny_int8_model(input_shape=(1, 64, 64, 3), channels=16), with_arena=True)
    refusals = check(r, _limits(ram_bytes=r.arena_bytes - 1, model_in_ram=False))
    assert _codes(refusals) == [ErrorCode.MODEL_ARENA_TOO_LARGE]
    assert "tensor arena" in refusals[0].message


def test_unmeasured_arena_counts_the_model_only():
    r = analyze(tiny_int8_model())  # no arena measured
    assert r.arena_bytes is None
    refusals = check(r, _limits(ram_bytes=r.size_bytes - 1))
    assert _codes(refusals) == [ErrorCode.MODEL_ARENA_TOO_LARGE]
    assert "arena not measured" in refusals[0].message


def test_unsupported_op():
    g = GraphBuilder(int8=True)
    x = g.input((1, 8, 8, 3))
    x = g.conv2d(x, 4)
    x = g.unary("HARD_SWISH", x)
    x = g.unary("SOFTMAX", x)
    refusals = check(analyze(g.build([x])), _limits(supported_ops=frozenset({"CONV_2D", "HARD_SWISH"})))
    assert _codes(refusals) == [ErrorCode.MODEL_OP_UNSUPPORTED]
    assert refusals[0].message == "testboard cannot run op SOFTMAX"


def test_edgetpu_format_refused_where_not_listed():
    g = GraphBuilder(int8=True)
    x = g.input((1, 8, 8, 3))
    r = analyze(g.build([g.unary("edgetpu-custom-op", x)]))
    refusals = check(r, _limits())
    assert _codes(refusals) == [ErrorCode.MODEL_FORMAT_UNSUPPORTED]
    assert "edgetpu-tflite" in refusals[0].message
    assert check(r, _limits(formats=frozenset({"tflite", "edgetpu-tflite"}))) == []


def test_every_reason_is_reported():
    r = analyze(tiny_float_model())
    refusals = check(r, _limits(model_store_bytes=100, ram_bytes=100,
                                supported_ops=frozenset({"CONV_2D"})))
    assert _codes(refusals) == [ErrorCode.MODEL_NOT_INT8, ErrorCode.MODEL_OP_UNSUPPORTED,
                                ErrorCode.MODEL_TOO_LARGE, ErrorCode.MODEL_ARENA_TOO_LARGE]


@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "QUANTIZE",
                                "DEQUANTIZE", "MEAN", "AVERAGE_POOL_2D", "SOFTMAX", "RESIZE_NEAREST_NEIGHBOR"])
def test_imx500_ops_follow_the_converter_table(op):
    """IMX500_OPS is what the converter accepted (hostlink/data/imx500_layers.json), not a kernel
    list: MEAN (TinyTrackerS's global average pooling) is in it exactly when imxconv-tf took the
    layers that become it."""
    table = load_table()
    assert (op in IMX500_OPS) == table.ops[op].accepted


def test_imx500_refuses_what_no_layer_becomes():
    for op in ("LSTM", "edgetpu-custom-op"):
        assert op not in IMX500_OPS


def test_imx500_limits_carry_the_converter_table():
    lim = _limits(board="imx500", supported_ops=IMX500_OPS)
    assert lim.converter is load_table()
    assert _limits().converter is None


def test_fmt_bytes():
    assert fmt_bytes(512) == "512 B"
    assert fmt_bytes(768 * KiB) == "768 KB"
    assert fmt_bytes(2 * 1024 * KiB) == "2.00 MB"
