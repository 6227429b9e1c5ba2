"""Data, training and evaluation for the two gaze models (TinyTracker, TinyTrackerS)."""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from hostlink.datasets import gazecapture, synthetic
from hostlink.datasets.facegrid import gaze_inputs

import tinytracker


@dataclass
class GazeSpec:
    name: str
    size: int
    grey: bool
    build: callable
    out_scale_cm: float


SPECS = {
    "tinytracker": GazeSpec("tinytracker", 112, False, tinytracker.tinytracker, 30.0),
    "tinytrackers": GazeSpec("tinytrackers", 96, True, tinytracker.tinytrackers, 10.0),
}


def load(spec: GazeSpec, n_train: int, n_val: int, seed: int, data_dir=None):
    """(x_train, y_train, x_val, y_val, description). Synthetic unless ``data_dir`` is given."""
    if data_dir is None:
        tr = synthetic.gaze_samples(n_train, seed=seed, size=spec.size, grey=spec.grey)
        va = synthetic.gaze_samples(n_val, seed=seed + 10_000, size=spec.size, grey=spec.grey)
        desc = {
            "kind": "synthetic",
            "generator": "hostlink.datasets.synthetic.gaze_samples",
            "train_samples": n_train, "train_seed": seed,
            "heldout_samples": n_val, "heldout_seed": seed + 10_000,
            "note": "procedural faces; gaze target known by construction. Not GazeCapture: "
                    "errors here say nothing about accuracy on real faces.",
        }
    else:
        tr = gazecapture.load(data_dir, split="train", size=spec.size, grey=spec.grey, limit=n_train)
        va = gazecapture.load(data_dir, split="val", size=spec.size, grey=spec.grey, limit=n_val)
        desc = {
            "kind": "GazeCapture",
            "path": str(data_dir),
            "train_samples": len(tr), "heldout_samples": len(va), "heldout_split": "val",
            "note": "GazeCapture: research use only; models trained on it are not for commercial use.",
        }
    return (gaze_inputs(tr.faces, tr.boxes), tr.targets,
            gaze_inputs(va.faces, va.boxes), va.targets, desc)


def mean_error_cm(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(np.linalg.norm(pred - target, axis=1)))


class EuclideanCm(keras.metrics.Mean):
    """Mean Euclidean distance between predicted and true gaze points, the paper's metric."""

    def __init__(self, name="cm", **kw):
        super().__init__(name=name, **kw)

    def update_state(self, y_true, y_pred, sample_weight=None):
        d = keras.ops.sqrt(keras.ops.sum(keras.ops.square(y_pred - y_true), axis=-1))
        return super().update_state(d, sample_weight)


def train(spec: GazeSpec, x, y, epochs: int, batch: int = 32, lr: float = 1e-3, val=None):
    """MSE on cm, Adam with exponential decay (the paper's recipe). Targets outside the tanh range
    would never be reached, so they are clipped to it."""
    model = spec.build()
    steps = max(1, int(np.ceil(len(x) / batch)))
    sched = keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=steps, decay_rate=0.85)
    lim = spec.out_scale_cm * 0.98
    model.compile(optimizer=keras.optimizers.Adam(sched), loss="mse", metrics=[EuclideanCm()])
    model.fit(x, np.clip(y, -lim, lim), epochs=epochs, batch_size=batch, shuffle=True, verbose=2,
              validation_data=val)
    return model
