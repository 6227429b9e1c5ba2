"""Representative inputs for post-training quantization: float inputs like each bundled model's
training data, from the synthetic generators (MCT's statistics pass in ``hostlink convert``)."""
import numpy as np

from . import synthetic
from .facegrid import gaze_inputs


def representative_set(name: str, n: int, seed: int = 1) -> np.ndarray:
    """``n`` inputs for bundled model ``name`` (tinytracker, tinytrackers, qsegment)."""
    if name == "qsegment":
        return synthetic.fundus_samples(n, seed).images.astype(np.float32) / 127.5 - 1.0
    size, grey = (112, False) if name == "tinytracker" else (96, True)
    s = synthetic.gaze_samples(n, seed, size=size, grey=grey)
    return gaze_inputs(s.faces, s.boxes)
