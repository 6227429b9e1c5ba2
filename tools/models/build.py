"""Build the bundled INT8 models: train -> full-integer PTQ -> evaluate float and INT8 -> card.

    python tools/models/build.py [--model tinytracker|tinytrackers|qsegment|all]
                                 [--data DIR] [--epochs N] [--seed S] [--quick]

Runs in the training venv (.venv-train, TensorFlow); ``make models`` creates it and calls this.
Writes hostlink/data/models/<name>_int8.tflite and <name>_int8.card.json, and the float Keras
model to build/models/<name>.keras (git-ignored; `hostlink convert --board imx500` needs it).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shlex
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "hostlink" / "data" / "models"
KERAS_DIR = ROOT / "build" / "models"

# hostlink/__init__ loads the device runtime (construct, pyserial, ...), which the training venv
# does not carry; the datasets package is numpy/OpenCV only, so import it as a plain namespace.
if "hostlink" not in sys.modules:
    _pkg = types.ModuleType("hostlink")
    _pkg.__path__ = [str(ROOT / "hostlink")]
    sys.modules["hostlink"] = _pkg
sys.path.insert(0, str(Path(__file__).resolve().parent))

MODELS = ("tinytracker", "tinytrackers", "qsegment")
PAPER = {
    "tinytracker": {"params": 455_000, "macs": 11_800_000, "int8_kb": 608,
                    "source": "TinyTracker, arXiv 2307.07813 (papers.md §1)"},
    "tinytrackers": {"params": 85_800, "macs": 5_300_000, "int8_kb": 169,
                     "source": "TinyTrackerS, arXiv 2308.12313 (papers.md §1)"},
    "qsegment": {"binary_accuracy": 0.9725, "roc_auc": 0.9697,
                 "source": "Q-Segment, arXiv 2312.09854, on CHASE_DB1 (papers.md §2)"},
}
# Samples and epochs per model: sized so that `--model all` stays under 30 min on 2 cores.
PLAN = {
    # MobileNetV3 from scratch learns slowly: a higher rate and two more epochs.
    "tinytracker": {"train": 10_000, "val": 1_000, "epochs": 8, "lr": 2e-3},
    "tinytrackers": {"train": 10_000, "val": 1_000, "epochs": 6, "lr": 1e-3},
    "qsegment": {"train": 2_000, "val": 300, "epochs": 6},
}
QUICK = {"train": 1_000, "val": 200, "epochs": 2}
REPRESENTATIVE = 500


def _seed_everything(seed: int):
    import keras
    import tensorflow as tf
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _versions():
    import keras
    import numpy as np
    import tensorflow as tf
    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__}


def _flat_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _flat_layers(layer)
        elif layer.weights:
            yield layer


def save_weight_bundle(model, path: Path, probe):
    """Weights per layer in graph order, plus a probe input and the float output it gave.

    The IMX500 toolchain (MCT, imxconv-tf) runs on TF 2.15 / Keras 2, which cannot read a Keras 3
    .keras file; `hostlink convert` rebuilds the same architecture there, loads these arrays layer
    by layer and checks the probe output before quantizing.
    """
    import numpy as np
    arrays = {"probe_x": probe.astype(np.float32),
              "probe_y": np.asarray(model.predict(probe, verbose=0), np.float32)}
    kinds = []
    for i, layer in enumerate(_flat_layers(model)):
        kinds.append(type(layer).__name__)
        for j, w in enumerate(layer.get_weights()):
            arrays[f"l{i:03d}_{j}"] = w
    arrays["layer_kinds"] = np.array(kinds)
    arrays["model_name"] = np.array(model.name)
    np.savez(path, **arrays)


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


#: CPU time at the start of each model's build: on a shared host, wall time says little.
_CPU_START: dict = {}


def _write_outputs(name: str, model, tflite: bytes, card: dict, probe):
    card["build"]["cpu_seconds"] = round(_cpu_seconds() - _CPU_START.get(name, 0.0), 1)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    KERAS_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}_int8.tflite"
    path.write_bytes(tflite)
    model.save(KERAS_DIR / f"{name}.keras")
    save_weight_bundle(model, KERAS_DIR / f"{name}.weights.npz", probe)
    card["file"] = {"name": path.name, "bytes": len(tflite), "kb": round(len(tflite) / 1024, 1),
                    "sha256": hashlib.sha256(tflite).hexdigest()}
    (OUT_DIR / f"{name}_int8.card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)} ({len(tflite) / 1024:.1f} KB) and its card")


def build_gaze(name: str, args, plan: dict) -> dict:
    import gaze_task
    import numpy as np
    import quantize
    import stats

    spec = gaze_task.SPECS[name]
    t0 = time.time()
    x, y, xv, yv, data = gaze_task.load(spec, plan["train"], plan["val"], args.seed, args.data)
    t_data = time.time() - t0
    model = gaze_task.train(spec, x, y, epochs=plan["epochs"], lr=plan.get("lr", 1e-3), val=(xv, yv),
                            seed=args.seed)
    t_train = time.time() - t0 - t_data
    rep = x[np.random.default_rng(args.seed).choice(len(x), min(REPRESENTATIVE, len(x)), replace=False)]
    tflite = quantize.to_int8_tflite(model, rep)
    pred_f = model.predict(xv, batch_size=256, verbose=0)
    runner = quantize.TfliteRunner(tflite)
    pred_q = runner(xv)
    err_f = gaze_task.mean_error_cm(pred_f, yv)
    err_q = gaze_task.mean_error_cm(pred_q, yv)
    baseline = gaze_task.mean_error_cm(np.broadcast_to(y.mean(0), yv.shape), yv)
    scale, zp = runner.input_quant
    card = {
        "name": name,
        "task": "gaze estimation: gaze point on the screen plane, cm from the camera (XCam, YCam)",
        "architecture": tinytracker_doc(name),
        "input": {"shape": [int(v) for v in runner.inp["shape"]], "dtype": "int8", "scale": scale, "zero_point": zp,
                  "channels": ("grey" if spec.grey else "RGB") + " + 2 grid-embedding planes",
                  "normalisation": "pixels/127.5-1; grid planes in [-1,1] "
                                   "(hostlink.datasets.facegrid.gaze_input), then quantized with scale/zero_point"},
        "output": {"shape": [int(v) for v in runner.out["shape"]], "dtype": "float32", "units": "cm",
                   "range_cm": spec.out_scale_cm},
        "params": stats.params(model),
        "macs": stats.macs(model),
        "paper": PAPER[name],
        "ops": quantize.op_names(tflite),
        "trained_on": data,
        "training": {"epochs": plan["epochs"], "batch": 32, "loss": "MSE (cm)",
                     "optimizer": f"Adam, lr {plan.get('lr', 1e-3):g}, exponential decay 0.8/epoch",
                     "batchnorm_momentum": 0.9,
                     "augmentation": "random left-right mirror per epoch (crop, grid box, XCam)",
                     "seed": args.seed},
        "quantization": {"method": "TFLite full-integer PTQ, TFLITE_BUILTINS_INT8",
                         "representative_samples": len(rep), "input": "int8", "output": "float32 (DEQUANTIZE)"},
        "metrics": {
            "heldout": "synthetic" if args.data is None else "GazeCapture val",
            "float_mean_error_cm": round(err_f, 3),
            "int8_mean_error_cm": round(err_q, 3),
            "int8_minus_float_cm": round(err_q - err_f, 3),
            "predict_mean_baseline_cm": round(baseline, 3),
            # Recomputed by tests/models/test_bundled_models.py from the generator and the .tflite.
            "int8_first100_mean_error_cm": round(gaze_task.mean_error_cm(pred_q[:100], yv[:100]), 4),
        },
        "build": {"command": args.command, "seconds": {"data": round(t_data, 1), "train": round(t_train, 1),
                                                        "total": round(time.time() - t0, 1)},
                  "host": f"{platform.machine()}, {os.cpu_count()} CPU", **_versions()},
    }
    _write_outputs(name, model, tflite, card, xv[:4])
    return card


def tinytracker_doc(name):
    if name == "tinytracker":
        return ("112x112x5 (RGB + 2 grid planes) -> 1x1 conv 3 -> MobileNetV3-Small minimalistic a=1.0 "
                "no top (4x4x576) -> 1x1 conv 2 -> flatten 32 -> FC 128 ReLU -> FC 2 tanh -> x30 cm")
    return ("96x96x3 (grey + 2 grid planes) -> conv3x3 s2 8 -> IR blocks 8/e1 s2, 16/e6 s2, 32/e6, "
            "32/e6, 64/e6 s2 -> 1x1 128 -> GAP -> FC 64 ReLU -> FC 2 tanh -> x10 cm")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=MODELS + ("all",), default="all")
    ap.add_argument("--data", type=Path, default=None,
                    help="real dataset root (GazeCapture for the gaze models, CHASE_DB1 for qsegment); "
                         "default: the synthetic generators")
    ap.add_argument("--epochs", type=int, default=None, help="override the per-model epoch count")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-samples", type=int, default=None, help="override the per-model training-set size")
    ap.add_argument("--quick", action="store_true",
                    help="few samples and epochs: a smoke build to check the pipeline, not a model to ship")
    args = ap.parse_args(argv)
    args.command = "python tools/models/build.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    names = MODELS if args.model == "all" else (args.model,)
    if args.data is not None and args.model == "all":
        ap.error("--data points at one dataset: pick the model with --model")
    t0 = time.time()
    for name in names:
        _seed_everything(args.seed)
        _CPU_START[name] = _cpu_seconds()
        plan = dict(QUICK if args.quick else PLAN[name])
        if args.epochs is not None:
            plan["epochs"] = args.epochs
        if args.train_samples is not None:
            plan["train"] = args.train_samples
        print(f"== {name}: {plan}")
        if name == "qsegment":
            import seg_task
            card = seg_task.build(args, plan, _write_outputs, _versions, PAPER[name], REPRESENTATIVE)
        else:
            card = build_gaze(name, args, plan)
        print(json.dumps(card["metrics"], indent=2))
    print(f"total build time {time.time() - t0:.0f} s wall, {_cpu_seconds():.0f} s CPU")


if __name__ == "__main__":
    main()
