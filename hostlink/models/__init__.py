"""Model files: what is inside them (``analyze``), what they need (``measure_arena``) and whether
a board takes them (``admission.check``). Conventions: docs/models.md."""
from .admission import BoardLimits, Refusal, check
from .arena import measure_arena
from .tflite import Layer, ModelReport, TensorInfo, analyze

__all__ = ["IMX500_OPS", "BoardLimits", "Layer", "ModelReport", "Refusal", "TensorInfo", "analyze",
           "check", "measure_arena"]


def __getattr__(name):
    # IMX500_OPS comes from the converter table (data/imx500_layers.json), read on first use.
    if name == "IMX500_OPS":
        from . import admission

        return admission.IMX500_OPS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
