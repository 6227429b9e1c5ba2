"""Host-supplied input tensors, checked against the model's input spec before a byte is sent.

The rule (``Device.capture(input=...)``, ``hostlink capture --input x.npy``):

* **Shape** must equal the model's input shape exactly (an NCHW array for an NHWC model has the
  right size and the wrong meaning, so it is refused, not reinterpreted).
* **Integer arrays** are taken as already-quantized values. Any integer dtype is accepted when every
  value fits the tensor's dtype (int32 zeros for an int8 input are fine); a value outside it (uint8
  200 or int32 1000 for int8) is refused with the range, never wrapped.
* **Float arrays** for a quantized (int8/uint8) input are real values: they are quantized with the
  tensor's own scale and zero point, ``q = round(x / scale) + zero_point``, and must lie within the
  real range the tensor can represent, ``[(qmin - zero_point) * scale, (qmax - zero_point) * scale]``
  (half a step of slack), so nothing is clipped silently. For a float32 input they are sent as
  float32. NaN and infinity are refused.
* Booleans, complex numbers, strings and objects are refused. Something that is not an array at
  all (a str, a dict) is a programmer error: TypeError.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError
from .types import TensorSpec


def prepare_input(spec: TensorSpec, tensor) -> np.ndarray:
    """``tensor`` as a contiguous array of ``spec``'s dtype and shape; ConfigError saying why not."""
    if isinstance(tensor, (str, bytes, dict, set)) or tensor is None:
        raise TypeError(f"an input tensor is a numpy array, not {type(tensor).__name__}")
    try:
        arr = np.asarray(tensor)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ConfigError(f"the input is not a rectangular array: {exc}", "pass a numpy array") from None
    shape = tuple(int(d) for d in spec.shape)
    want = f"{shape} {spec.dtype}"
    if arr.dtype.kind not in "iuf":
        raise ConfigError(f"input of dtype {arr.dtype} for a model input of {want}",
                          "pass integer values already quantized, or float values to quantize")
    if arr.shape != shape:
        hint = "the model's layout is NHWC (batch, height, width, channels)" if len(shape) == 4 else \
            f"reshape it to {shape}"
        if arr.size == int(np.prod(shape, dtype=np.int64)):
            hint = f"same size, different layout: transpose it to {shape}, do not reshape it (" + hint + ")"
        raise ConfigError(f"input has shape {arr.shape}, the model expects {want}", hint)
    dt = np.dtype(spec.numpy_dtype)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            raise ConfigError(f"input has {bad} NaN or infinite value(s)", "replace them before capture")
        if dt.kind == "f":
            return np.ascontiguousarray(arr, dtype=dt)
        return _quantize(spec, arr, dt)
    if dt.kind == "f":
        return np.ascontiguousarray(arr, dtype=dt)
    info = np.iinfo(dt)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < info.min or hi > info.max:
            how = (f"quantize real values with the input's scale {spec.scale:g} and zero point {spec.zero_point}: "
                   f"q = round(x / scale) + zero_point, or pass them as float and hostlink quantizes them"
                   if spec.scale else f"scale them into {info.min}..{info.max}")
            raise ConfigError(f"input values span {lo}..{hi} but the model's {spec.dtype} input holds "
                              f"{info.min}..{info.max}", how)
    return np.ascontiguousarray(arr, dtype=dt)


def _quantize(spec: TensorSpec, arr: np.ndarray, dt: np.dtype) -> np.ndarray:
    info = np.iinfo(dt)
    if not spec.scale or spec.scale <= 0 or not np.isfinite(spec.scale):
        raise ConfigError(f"float input for a {spec.dtype} input without a quantization scale",
                          f"pass {spec.dtype} values ({info.min}..{info.max}) directly")
    lo = (info.min - spec.zero_point - 0.5) * spec.scale
    hi = (info.max - spec.zero_point + 0.5) * spec.scale
    a_lo, a_hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if a_lo < lo or a_hi > hi:
        raise ConfigError(f"float input spans {a_lo:g}..{a_hi:g}, outside what the model's {spec.dtype} input "
                          f"represents ({lo + 0.5 * spec.scale:g}..{hi - 0.5 * spec.scale:g} with scale "
                          f"{spec.scale:g}, zero point {spec.zero_point})",
                          "normalise the values the way the model was trained (e.g. pixels / 255), "
                          "or pass quantized integers")
    q = np.round(arr.astype(np.float64) / spec.scale) + spec.zero_point
    return np.ascontiguousarray(np.clip(q, info.min, info.max), dtype=dt)


def seeded_input(spec: TensorSpec, seed: int = 0) -> np.ndarray:
    """A reproducible input of ``spec``'s shape and dtype, uniform over the values it can hold (for
    boards that need a tensor to run but whose measurement does not depend on its contents)."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in spec.shape)
    dt = np.dtype(spec.numpy_dtype)
    if dt.kind == "f":
        return rng.uniform(-1.0, 1.0, shape).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dt)
