"""Analysing a model file: TFLite flatbuffers are read by ``tflite``; the IMX500 artefacts
(packerOut.zip, .rpk) are recognised by their magic bytes (``magic``) and refused with the fix, since
hostlink inspects the .tflite they were built from.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ModelFileError
from . import tflite
from .magic import KIND_TITLES, sniff
from .tflite import ModelReport


def analyze_bytes(data: bytes, *, name: str = "model", with_arena: bool = False) -> ModelReport:
    kind = sniff(data)
    if kind in ("packerout-zip", "rpk"):
        raise ModelFileError(f"{name}: this is an {KIND_TITLES[kind]}, which hostlink cannot analyse",
                             hint="inspect the .tflite the package was built from")
    # Empty, short and foreign files get the TFLite reader's precise diagnosis.
    return tflite.analyze(data, name=name, with_arena=with_arena)


def analyze_file(path: str | Path, *, with_arena: bool = False) -> ModelReport:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise ModelFileError(f"cannot read {p}: {err.strerror}",
                             hint="check the path and its permissions") from None
    return analyze_bytes(data, name=p.name, with_arena=with_arena)
