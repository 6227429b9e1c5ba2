"""Data, training, evaluation and card for the vessel segmenter (qsegment)."""
from __future__ import annotations

import os
import platform
import time

import keras
import numpy as np
import qsegment
import quantize
import stats

from hostlink.datasets import chase_db1, synthetic


def load(n_train: int, n_val: int, seed: int, data_dir=None):
    """(x_train, y_train, x_val, y_val, fov_val, description); x is img/127.5-1, y a {0,1} mask."""
    size = qsegment.INPUT[0]
    if data_dir is None:
        tr = synthetic.fundus_samples(n_train, seed=seed, size=size)
        va = synthetic.fundus_samples(n_val, seed=seed + 10_000, size=size)
        desc = {"kind": "synthetic", "generator": "hostlink.datasets.synthetic.fundus_samples",
                "train_samples": n_train, "train_seed": seed,
                "heldout_samples": n_val, "heldout_seed": seed + 10_000,
                "note": "procedural fundus-like images with vessel trees; not CHASE_DB1: these "
                        "metrics say nothing about accuracy on real retinas."}
        tr_img, tr_mask, va_img, va_mask, va_fov = tr.images, tr.masks, va.images, va.masks, va.fov
    else:
        images = chase_db1.load(data_dir)
        train, held = chase_db1.split(images)
        tr_img, tr_mask, _ = chase_db1.patches(train, size, n_train, seed)
        va_img, va_mask, va_fov = chase_db1.patches(held, size, n_val, seed + 10_000)
        desc = {"kind": "CHASE_DB1", "path": str(data_dir),
                "train_images": [im.name for im in train], "heldout_images": [im.name for im in held],
                "train_patches": n_train, "heldout_patches": n_val, "label": "1stHO",
                "note": "random 96x96 patches at half resolution; check CHASE_DB1's licence."}
    f = lambda a: a.astype(np.float32) / 127.5 - 1.0
    return (f(tr_img), tr_mask[..., None].astype(np.float32), f(va_img),
            va_mask[..., None].astype(np.float32), va_fov, desc)


#: The network is fully convolutional: it trains on random crops (a quarter of the pixels, a
#: quarter of the compute) with random flips and 90-degree turns, and runs on the whole 96x96.
CROP = 48
CROPS_PER_IMAGE = 2


def random_crops(x: np.ndarray, y: np.ndarray, size: int, per_image: int, rng):
    n, h, w = x.shape[:3]
    idx = np.repeat(np.arange(n), per_image)
    r = rng.integers(0, h - size + 1, len(idx))
    c = rng.integers(0, w - size + 1, len(idx))
    xc = np.empty((len(idx), size, size, x.shape[3]), x.dtype)
    yc = np.empty((len(idx), size, size, y.shape[3]), y.dtype)
    turns, flips = rng.integers(0, 4, len(idx)), rng.random(len(idx)) < 0.5
    for k, (i, r0, c0) in enumerate(zip(idx, r, c)):
        a, b = x[i, r0:r0 + size, c0:c0 + size], y[i, r0:r0 + size, c0:c0 + size]
        if flips[k]:
            a, b = a[:, ::-1], b[:, ::-1]
        xc[k], yc[k] = np.rot90(a, turns[k]), np.rot90(b, turns[k])
    return xc, yc


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula, ties counted half."""
    score, label = np.ravel(score), np.ravel(label).astype(bool)
    n_pos, n_neg = label.sum(), (~label).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    ranks = np.empty(len(s), np.float64)
    # Average rank over runs of equal scores (an int8 output has many ties).
    bounds = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(s)]])
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def metrics(prob: np.ndarray, mask: np.ndarray, fov: np.ndarray) -> dict:
    """Binary accuracy, ROC-AUC and Dice inside the field of view (as CHASE_DB1 is scored)."""
    inside = fov.astype(bool).ravel()
    p, y = np.ravel(prob)[inside], np.ravel(mask)[inside] > 0.5
    pred = p >= 0.5
    inter = np.sum(pred & y)
    return {"accuracy": round(float(np.mean(pred == y)), 4),
            "roc_auc": round(roc_auc(p, y), 4),
            "dice": round(float(2 * inter / max(1, pred.sum() + y.sum())), 4),
            "vessel_fraction": round(float(y.mean()), 4)}


def dice_bce(y_true, y_pred):
    """Binary cross-entropy plus soft Dice: vessels are ~10 % of the pixels."""
    bce = keras.losses.binary_crossentropy(y_true, y_pred)
    inter = keras.ops.sum(y_true * y_pred, axis=(1, 2, 3))
    union = keras.ops.sum(y_true + y_pred, axis=(1, 2, 3))
    dice = 1 - (2 * inter + 1) / (union + 1)
    return keras.ops.mean(bce, axis=(1, 2)) + dice


def build(args, plan, write_outputs, versions, paper, n_rep):
    t0 = time.time()
    x, y, xv, yv, fov_v, data = load(plan["train"], plan["val"], args.seed, args.data)
    t_data = time.time() - t0
    # Trained at any size (crops), exported at 96x96 with the same weights.
    model = qsegment.qsegment((None, None, 3))
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9  # a few thousand steps: moving statistics must keep up
    batch = 16
    steps = max(1, int(np.ceil(len(x) * CROPS_PER_IMAGE / batch)))
    sched = keras.optimizers.schedules.ExponentialDecay(2e-3, decay_steps=steps, decay_rate=0.8)
    model.compile(optimizer=keras.optimizers.Adam(sched), loss=dice_bce)
    rng = np.random.default_rng(args.seed)
    for epoch in range(plan["epochs"]):
        xc, yc = random_crops(x, y, CROP, CROPS_PER_IMAGE, rng)
        model.fit(xc, yc, initial_epoch=epoch, epochs=epoch + 1, batch_size=batch, shuffle=True, verbose=2,
                  validation_data=(xv, yv))
    fixed = qsegment.qsegment()
    fixed.set_weights(model.get_weights())
    model = fixed
    t_train = time.time() - t0 - t_data
    rep = x[np.random.default_rng(args.seed).choice(len(x), min(n_rep, len(x)), replace=False)]
    tflite = quantize.to_int8_tflite(model, rep)
    runner = quantize.TfliteRunner(tflite)
    m_f = metrics(model.predict(xv, batch_size=64, verbose=0), yv, fov_v)
    prob_q = runner(xv)
    m_q = metrics(prob_q, yv, fov_v)
    # Recomputed by tests/models/test_bundled_models.py from the generator and the .tflite.
    m_q["first20_accuracy"] = metrics(prob_q[:20], yv[:20], fov_v[:20])["accuracy"]
    scale, zp = runner.input_quant
    card = {
        "name": "qsegment",
        "task": "retinal vessel segmentation: per-pixel vessel probability",
        "architecture": ("96x96x3 -> conv3x3 s2 48 -> DS s2 96 -> DS s2 160 -> DS s2 256 -> DS 320 -> "
                         "decoder DS 192/128/80/40, each x2 nearest upsampling + 1x1-conv additive skip "
                         "(enc 160/96/48/input) -> dw3x3 -> 1x1 -> sigmoid"),
        "input": {"shape": [int(v) for v in runner.inp["shape"]], "dtype": "int8", "scale": scale,
                  "zero_point": zp, "normalisation": "RGB pixels/127.5-1, then quantized with scale/zero_point"},
        "output": {"shape": [int(v) for v in runner.out["shape"]], "dtype": "float32",
                   "meaning": "vessel probability; threshold 0.5"},
        "params": stats.params(model),
        "macs": stats.macs(model),
        "paper": paper,
        "ops": quantize.op_names(tflite),
        "trained_on": data,
        "training": {"epochs": plan["epochs"], "batch": batch, "loss": "BCE + soft Dice",
                     "optimizer": "Adam, lr 2e-3, exponential decay 0.8/epoch", "batchnorm_momentum": 0.9,
                     "augmentation": f"{CROPS_PER_IMAGE} random {CROP}x{CROP} crops per image per epoch, "
                                     "random flips and 90-degree turns",
                     "seed": args.seed},
        "quantization": {"method": "TFLite full-integer PTQ, TFLITE_BUILTINS_INT8",
                         "representative_samples": len(rep), "input": "int8", "output": "float32 (DEQUANTIZE)"},
        "metrics": {"heldout": "synthetic" if args.data is None else "CHASE_DB1 held-out images",
                    "scored_inside": "field of view", "float": m_f, "int8": m_q},
        "build": {"command": args.command,
                  "seconds": {"data": round(t_data, 1), "train": round(t_train, 1),
                              "total": round(time.time() - t0, 1)},
                  "host": f"{platform.machine()}, {os.cpu_count()} CPU", **versions()},
    }
    write_outputs("qsegment", model, tflite, card, xv[:4])
    return card
