"""Data, training and evaluation for the two gaze models (TinyTracker, TinyTrackerS)."""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tinytracker

from hostlink.datasets import gazecapture, synthetic
from hostlink.datasets.facegrid import gaze_inputs


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


def mirror_(x: np.ndarray, y: np.ndarray, idx: np.ndarray):
    """Mirror samples ``idx`` left-right, in place: a mirrored world about the camera's vertical axis.

    The face crop flips, the face-grid box moves to (25-x-w, y, w, h), which for the grid planes
    is the x plane flipped and negated, and XCam changes sign. Applying it twice is the identity,
    so each epoch flips a fresh random subset without copying the set.
    """
    x[idx] = x[idx, :, ::-1, :]
    x[idx, :, :, -2] *= -1
    y[idx, 0] *= -1


def set_bn_momentum(model, momentum: float = 0.9):
    """Keras' MobileNetV3 ships BN momentum 0.999, tuned for ImageNet's millions of steps; with a
    few thousand steps the moving statistics would lag the weights and held-out error with them."""
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


def train(spec: GazeSpec, x, y, epochs: int, batch: int = 32, lr: float = 1e-3, val=None, seed: int = 0):
    """MSE on cm, Adam with exponential decay (the paper's recipe, batch 32 for this small set).
    Targets outside the tanh range would never be reached, so they are clipped to it."""
    model = spec.build()
    set_bn_momentum(model)
    steps = max(1, int(np.ceil(len(x) / batch)))
    sched = keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=steps, decay_rate=0.8)
    lim = spec.out_scale_cm * 0.98
    y = np.clip(y, -lim, lim).astype(np.float32)
    model.compile(optimizer=keras.optimizers.Adam(sched), loss="mse", metrics=[EuclideanCm()])
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        mirror_(x, y, np.flatnonzero(rng.random(len(x)) < 0.5))
        model.fit(x, y, initial_epoch=epoch, epochs=epoch + 1, batch_size=batch, shuffle=True, verbose=2,
                  validation_data=val)
    return model
