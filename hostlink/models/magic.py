"""Which kind of model file some bytes are, by their magic bytes: the one place that knows them.

Used by the model readers (``formats``, ``tflite``'s diagnosis of a foreign file) and by the device
client to pick the upload format.
"""
from __future__ import annotations

TFLITE_IDENTIFIER = b"TFL3"  # FlatBuffer file identifier at bytes 4..8 (TFLite schema.fbs)
ZIP_MAGIC = b"PK\x03\x04"  # an IMX500 packerOut.zip
RPK_MAGIC = b"9464"  # an IMX500 network.rpk
EDGETPU_OP = b"edgetpu-custom-op"  # the custom op edgetpu_compiler puts in a compiled graph

KIND_TITLES = {"tflite": "TFLite flatbuffer", "edgetpu-tflite": "Edge TPU-compiled TFLite flatbuffer",
               "packerout-zip": "IMX500 packerOut.zip (zip archive)", "rpk": "IMX500 .rpk network package"}


def sniff(data: bytes) -> str | None:
    """"tflite", "edgetpu-tflite", "packerout-zip", "rpk", or None for anything else."""
    head = bytes(data[:8])
    if len(head) == 8 and head[4:8] == TFLITE_IDENTIFIER:
        return "edgetpu-tflite" if EDGETPU_OP in data else "tflite"
    if head.startswith(ZIP_MAGIC):
        return "packerout-zip"
    if head.startswith(RPK_MAGIC):
        return "rpk"
    return None
