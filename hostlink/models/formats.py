"""Which reader a model file needs, by its magic bytes, and the dispatch to it.

A reader is a module exposing ``analyze(data: bytes, *, name: str, with_arena: bool) ->
ModelReport``. Readers for the IMX500 artefacts (packerOut.zip, .rpk) live in their own modules,
listed in ``READER_MODULES``; a kind whose module is not present is recognised and refused with
a message saying so.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import ModelFileError
from .tflite import TFLITE_IDENTIFIER, ModelReport

#: kind -> module holding its ``analyze``.
READER_MODULES = {
    "tflite": "hostlink.models.tflite",
    "packerout-zip": "hostlink.models.packerout",
    "rpk": "hostlink.models.rpk",
}
KIND_TITLES = {"tflite": "TFLite flatbuffer", "packerout-zip": "IMX500 packerOut.zip (zip archive)",
               "rpk": "IMX500 .rpk network package"}


def sniff(data: bytes) -> str | None:
    """The file kind from its first bytes: "tflite", "packerout-zip", "rpk", or None."""
    head = bytes(data[:8])
    if head[4:8] == TFLITE_IDENTIFIER:
        return "tflite"
    if head.startswith(b"PK\x03\x04"):
        return "packerout-zip"
    if head.startswith(b"9464"):
        return "rpk"
    return None


def analyze_bytes(data: bytes, *, name: str = "model", with_arena: bool = False) -> ModelReport:
    kind = sniff(data)
    if kind is None:
        # Empty, short and foreign files get the TFLite reader's precise diagnosis.
        kind = "tflite"
    try:
        reader = importlib.import_module(READER_MODULES[kind])
    except ModuleNotFoundError as err:
        if err.name != READER_MODULES[kind]:
            raise
        raise ModelFileError(f"{name}: this is an {KIND_TITLES[kind]}, which this hostlink "
                             "installation cannot read",
                             hint="inspect the .tflite the archive was built from, or install a "
                                  "hostlink version with the IMX500 readers") from None
    return reader.analyze(data, name=name, with_arena=with_arena)


def analyze_file(path: str | Path, *, with_arena: bool = False) -> ModelReport:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise ModelFileError(f"cannot read {p}: {err.strerror}",
                             hint="check the path and its permissions") from None
    return analyze_bytes(data, name=p.name, with_arena=with_arena)
