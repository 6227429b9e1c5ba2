"""measure_arena(): the figure is the smallest arena tflite-micro accepts, checked against TFLM."""
import subprocess
import sys

import numpy as np
import pytest
from tflite_micro import runtime

from hostlink.errors import ModelFileError
from hostlink.models import analyze, measure_arena
from hostlink.models import arena as arena_mod
from hostlink.testing.synth_models import GraphBuilder, tiny_int8_model


def _allocates(data: bytes, size: int) -> bool:
    """Probe in a child process: too small an arena can crash the tflite-micro wheel."""
    proc = subprocess.run([sys.executable, arena_mod._PROBE_SCRIPT, "search", str(size - 1), str(size + 1)],
                          input=data, capture_output=True, check=False)
    return f"ok {size}" in proc.stdout.decode()


@pytest.mark.parametrize("shape,channels", [((1, 8, 8, 3), 8), ((1, 24, 20, 1), 16)])
def test_arena_is_the_smallest_that_allocates(shape, channels):
    data = tiny_int8_model(input_shape=shape, channels=channels)
    need = measure_arena(data)
    assert _allocates(data, need)
    assert not _allocates(data, need - 1)
    # Activations must fit: conv output + depthwise output live at the same time.
    act = int(np.prod(shape[:3])) * channels
    assert need >= 2 * act


def test_arena_runs_inference_matching_litert():
    from ai_edge_litert.interpreter import Interpreter

    data = tiny_int8_model(input_shape=(1, 8, 8, 3), float_output=False)
    need = measure_arena(data)
    x = np.random.default_rng(1).integers(-128, 127, (1, 8, 8, 3)).astype(np.int8)
    tflm = runtime.Interpreter.from_bytes(data, arena_size=need)
    tflm.set_input(x, 0)
    tflm.invoke()
    lite = Interpreter(model_content=data)
    lite.allocate_tensors()
    lite.set_tensor(lite.get_input_details()[0]["index"], x)
    lite.invoke()
    expect = lite.get_tensor(lite.get_output_details()[0]["index"]).astype(int)
    assert np.abs(tflm.get_output(0).astype(int) - expect).max() <= 1  # rounding of optimized kernels


def test_arena_grows_with_activations():
    small = measure_arena(tiny_int8_model(input_shape=(1, 8, 8, 3)))
    large = measure_arena(tiny_int8_model(input_shape=(1, 32, 32, 3)))
    assert large - small >= 2 * (32 * 32 - 8 * 8) * 8 - 64  # two live 8-channel maps grew


def test_cached_by_content():
    data = tiny_int8_model(input_shape=(1, 6, 6, 2))
    first = measure_arena(data)
    key = next(k for k, v in arena_mod._CACHE.items() if v == first)
    assert measure_arena(bytearray(data)) == first
    assert key in arena_mod._CACHE


def test_unknown_op_is_reported_not_crashed():
    g = GraphBuilder(int8=True)
    x = g.input((1, 8, 8, 3))
    y = g.unary("edgetpu-custom-op", x)
    data = g.build([y])
    with pytest.raises(ModelFileError, match="cannot plan"):
        measure_arena(data)
    r = analyze(data, with_arena=True)
    assert r.arena_bytes is None
    assert "edgetpu-custom-op" in r.arena_error


def test_analyze_with_arena_fills_report():
    data = tiny_int8_model()
    r = analyze(data, with_arena=True)
    assert r.arena_bytes == measure_arena(data)
    assert r.arena_error is None
