"""The public Python API with generated inputs: only HostlinkError subclasses (a wrong value) or
TypeError (an argument of the wrong Python type, a programmer error; documented in hostlink/api.py)
escape, nothing hangs, and an input tensor is accepted exactly when the rules in hostlink/inputs.py
say so.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import hostlink
from hostlink.config import Timeouts
from hostlink.errors import HostlinkError

from .conftest import text_values, watchdog

FAST = Timeouts().scaled(0.05)  # a port that opens but never answers fails in well under a second
ALLOWED = (HostlinkError, TypeError)
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def dev():
    from hostlink.testing.synth_models import tiny_int8_model

    d = hostlink.connect("emu:imx500")
    d.upload(tiny_int8_model(), name="tiny")
    yield d
    d.close()


def _call(fn, *args, **kwargs):
    """Run ``fn`` under the watchdog; return (result, None) or (None, the allowed exception)."""
    try:
        with watchdog(what=getattr(fn, "__name__", "call")):
            return fn(*args, **kwargs), None
    except ALLOWED as err:
        if isinstance(err, HostlinkError):
            assert "Traceback" not in str(err) and str(err).count("\n") <= 1, repr(str(err))
        return None, err


# Hosts stay numeric: a generated host name would make the test depend on the resolver.
URLS = st.one_of(
    text_values(),
    st.builds("{}{}".format, st.sampled_from(["emu:", "emu:imx500?", "emu:coralmicro?realtime=", "usb://", "loop://",
                                               "tcp://127.0.0.1:", "socket://127.0.0.1:", "socket://:", "tcp://",
                                               "/dev/hostlink-none-", "COM", "rfc2217://127.0.0.1:"]),
              st.text(max_size=10)),
    st.sampled_from([None, 5, 3.5, b"emu:imx500", ["emu:imx500"], {"port": "emu:imx500"}]),
)


@settings(max_examples=60, **SETTINGS)
@given(URLS, st.sampled_from([None, "imx500", "esp32", "", 7]))
def test_connect_with_generated_addresses(url, board):
    dev, err = _call(hostlink.connect, url, board=board, timeouts=FAST)
    if dev is not None:
        dev.close()


MODELS = st.one_of(st.binary(max_size=64), text_values(), st.sampled_from([None, 0, -1, 10 ** 12, 3.5, [b"x"]]))
NAMES = st.one_of(st.none(), st.text(max_size=300), st.sampled_from(["\x1b[31m", "€" * 255, "", 5, b"x"]))
FORMATS = st.one_of(st.none(), st.sampled_from(["tflite", "edgetpu-tflite", "imx500-rpk", "onnx", "", 3]), st.text(max_size=8))


@settings(max_examples=40, **SETTINGS)
@given(st.one_of(MODELS, st.just("TINY")), NAMES, FORMATS)
def test_upload_with_generated_arguments(dev, model, name, fmt):
    from hostlink.testing.synth_models import tiny_int8_model

    model = tiny_int8_model() if model == "TINY" else model
    info, err = _call(dev.upload, model, name=name, fmt=fmt)
    if info is not None:
        assert isinstance(info.name, str) and len(info.name.encode()) <= 255


COUNTS = st.one_of(st.integers(-3, 3), st.sampled_from([2 ** 32, 2 ** 63, -(2 ** 40), True, 1.0, "2", None]))
PERIODS = st.one_of(st.integers(-3, 2000), st.sampled_from([2 ** 32, -1, 0.5, "0", None, float("nan")]))


@settings(max_examples=40, **SETTINGS)
@given(COUNTS, PERIODS)
def test_capture_counts_and_periods(dev, count, period_us):
    _reload(dev)
    results, err = _call(dev.capture, count=count, period_us=period_us)
    if results is not None:
        assert isinstance(count, int) and not isinstance(count, bool) and len(results) == count >= 1


def _reload(dev):
    if not dev.model_info().loaded or dev.model.name != "tiny":
        from hostlink.testing.synth_models import tiny_int8_model

        dev.upload(tiny_int8_model(), name="tiny")


DTYPES = st.sampled_from([np.int8, np.uint8, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64, np.bool_,
                          np.complex64])


@st.composite
def input_arrays(draw, spec_shape):
    dtype = np.dtype(draw(DTYPES))
    shape = draw(st.one_of(st.just(spec_shape), st.permutations(spec_shape).map(tuple),
                           hnp.array_shapes(min_dims=0, max_dims=4, max_side=5)))
    if dtype.kind == "f":
        elements = st.one_of(st.floats(-2.0, 2.0, width=dtype.itemsize * 8),
                             st.floats(allow_nan=True, allow_infinity=True, width=dtype.itemsize * 8))
    else:
        elements = None
    return draw(hnp.arrays(dtype, shape, elements=elements))


def _accepted_by_the_rules(arr: np.ndarray, spec) -> bool:
    """hostlink/inputs.py's rule, restated: exact shape, integers in range, finite representable floats."""
    if arr.dtype.kind not in "iuf" or arr.shape != tuple(spec.shape):
        return False
    info = np.iinfo(spec.numpy_dtype)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            return False
        lo = (info.min - spec.zero_point - 0.5) * spec.scale
        hi = (info.max - spec.zero_point + 0.5) * spec.scale
        return arr.size == 0 or (float(arr.min()) >= lo and float(arr.max()) <= hi)
    return arr.size == 0 or (int(arr.min()) >= info.min and int(arr.max()) <= info.max)


@settings(max_examples=80, **SETTINGS)
@given(st.data())
def test_capture_input_arrays(dev, data):
    _reload(dev)
    spec = dev.model.inputs[0]
    assume(spec.dtype in ("int8", "uint8") and spec.scale > 0)
    arr = data.draw(input_arrays(tuple(spec.shape)))
    results, err = _call(dev.capture, input=arr)
    assert (results is not None) == _accepted_by_the_rules(arr, spec), (arr.dtype, arr.shape, err)
    if err is not None:
        assert isinstance(err, HostlinkError), err  # every array is the right Python type


@settings(max_examples=15, **SETTINGS)
@given(st.sampled_from([None, "x", b"x", {"a": 1}, [[1, 2], [3]], 5, 1.5, object()]))
def test_capture_input_that_is_not_an_array(dev, value):
    _reload(dev)
    results, err = _call(dev.capture, input=value)
    assert results is None or value is None
