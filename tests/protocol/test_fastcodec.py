"""fastcodec (struct) RESULT == the construct declaration, byte for byte, in both directions."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostlink import fastcodec
from hostlink.protocols import DType, Stage
from hostlink.protocols import messages as M
from hostlink.types import NUMPY_DTYPES

from protocol_strategies import f32, i32, u32, u64

names = st.text(st.characters(codec="utf-8"), max_size=30).filter(lambda s: len(s.encode("utf8")) <= 255)
dtypes = st.sampled_from(list(DType))


@st.composite
def output_tensors(draw):
    dtype = draw(dtypes)
    shape = draw(st.lists(st.integers(0, 5), max_size=4))
    n = math.prod(shape) * np.dtype(NUMPY_DTYPES[dtype]).itemsize
    data = draw(st.binary(min_size=n, max_size=n))
    return dict(name=draw(names), dtype=dtype, shape=shape, scale=draw(f32), zero_point=draw(i32), data=data)


results = st.fixed_dictionaries(dict(
    frame=u32, count=u32,
    stages=st.lists(st.tuples(st.sampled_from(list(Stage)), u64, u64), max_size=5),
    outputs=st.lists(output_tensors(), max_size=4)))


def _construct_dict(r):
    return dict(frame=r["frame"], count=r["count"],
                stages=[dict(stage=s.name, start=a, end=b) for s, a, b in r["stages"]],
                outputs=[dict(spec=dict(name=o["name"], dtype=o["dtype"].name, shape=o["shape"], scale=o["scale"],
                                        zero_point=o["zero_point"]), data=o["data"]) for o in r["outputs"]])


def _fast_encode(r):
    outs = [(fastcodec.encode_spec(o["name"], o["dtype"].name.lower(), o["shape"], o["scale"], o["zero_point"]), o["data"])
            for o in r["outputs"]]
    return fastcodec.encode_result(r["frame"], r["count"], r["stages"], outs)


@settings(max_examples=100)
@given(r=results)
def test_encode_equals_construct(r):
    assert _fast_encode(r) == M.Result.build(_construct_dict(r))


@settings(max_examples=100)
@given(r=results)
def test_decode_equals_construct(r):
    raw = M.Result.build(_construct_dict(r))
    frame, count, stages, outputs = fastcodec.decode_result(raw)
    c = M.Result.parse(raw)
    assert (frame, count) == (c.frame, c.count)
    assert stages == [(str(s.stage).lower(), s.start, s.end) for s in c.stages]
    assert len(outputs) == len(c.outputs)
    for (name, dtype, shape, scale, zp, arr), o in zip(outputs, c.outputs):
        assert name == o.spec.name
        assert dtype == str(o.spec.dtype).lower()
        assert shape == tuple(o.spec.shape)
        assert np.float32(scale).tobytes() == np.float32(o.spec.scale).tobytes()
        assert zp == o.spec.zero_point
        assert arr.dtype == np.dtype(dtype) and arr.shape == shape
        assert arr.tobytes() == o.data


@settings(max_examples=100)
@given(r=results)
def test_decode_then_encode_is_identity(r):
    raw = _fast_encode(r)
    frame, count, stages, outputs = fastcodec.decode_result(raw)
    by_name = {s.name.lower(): s for s in Stage}
    again = fastcodec.encode_result(
        frame, count, [(by_name[n], a, b) for n, a, b in stages],
        [(fastcodec.encode_spec(n, dt, shape, sc, zp), arr.tobytes()) for n, dt, shape, sc, zp, arr in outputs])
    assert again == raw


def test_trailing_bytes_are_refused():
    raw = _fast_encode(dict(frame=1, count=1, stages=[], outputs=[]))
    fastcodec.decode_result(raw)
    with pytest.raises(ValueError, match="trailing"):
        fastcodec.decode_result(raw + b"\x00")


def test_stage_ids_outside_the_enum_decode_as_numbers():
    raw = fastcodec.encode_result(0, 1, [(9, 1, 2)], [])
    assert fastcodec.decode_result(raw)[2] == [("9", 1, 2)]
    assert int(M.Result.parse(raw).stages[0].stage) == 9
