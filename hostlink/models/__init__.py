"""Model files: what is inside them (``analyze``), what they need (``measure_arena``) and whether
a board takes them (``admission.check``). Conventions: docs/models.md."""
from .admission import IMX500_OPS, BoardLimits, Refusal, check
from .arena import measure_arena
from .tflite import Layer, ModelReport, TensorInfo, analyze

__all__ = ["IMX500_OPS", "BoardLimits", "Layer", "ModelReport", "Refusal", "TensorInfo", "analyze",
           "check", "measure_arena"]
