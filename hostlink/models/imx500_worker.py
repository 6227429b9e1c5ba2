"""MCT post-training quantization for the IMX500, run by `hostlink convert` inside .venv-imx500.

This file is executed as a script by that venv's Python (TF 2.15, Keras 2, MCT, edge-mdt-tpc),
never imported by hostlink: the runtime has no TensorFlow. It rebuilds the bundled architecture
from tools/models, loads the weights `tools/models/build.py` saved layer by layer, checks that
the rebuilt float model reproduces the probe output, quantizes it with the IMX500 target platform
capabilities and exports the quantized Keras model that `imxconv-tf` reads.

    python imx500_worker.py --arch-dir tools/models --model NAME --weights W.npz
                            --representative R.npy --out DIR [--tpc-version 4.0]

Prints one JSON line (prefixed ``RESULT``) with what it did.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

PROBE_ATOL = 1e-3  # float32 on two TF builds: the same graph agrees far below this


def _flat_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _flat_layers(layer)
        elif layer.weights:
            yield layer


def rebuild(arch_dir: Path, name: str, weights: Path):
    sys.path.insert(0, str(arch_dir))
    import qsegment
    import tinytracker

    build = {"tinytracker": tinytracker.tinytracker, "tinytrackers": tinytracker.tinytrackers,
             "qsegment": qsegment.qsegment}
    if name not in build:
        raise SystemExit(f"unknown model {name!r}; known: {', '.join(build)}")
    model = build[name]()
    data = np.load(weights)
    kinds = list(data["layer_kinds"])
    layers = list(_flat_layers(model))
    if [type(layer).__name__ for layer in layers] != kinds:
        raise SystemExit(f"{weights}: layer list differs from the {name} architecture here")
    for i, layer in enumerate(layers):
        arrays = [data[f"l{i:03d}_{j}"] for j in range(len(layer.get_weights()))]
        layer.set_weights(arrays)
    got = model.predict(data["probe_x"], verbose=0)
    err = float(np.max(np.abs(got - data["probe_y"])))
    if err > PROBE_ATOL:
        raise SystemExit(f"rebuilt {name} disagrees with the trained model: max |diff| {err:.3g}")
    return model, err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch-dir", type=Path, required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--representative", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tpc-version", default="4.0")
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()

    import model_compression_toolkit as mct
    from edgemdt_tpc import get_target_platform_capabilities

    model, probe_err = rebuild(args.arch_dir, args.model, args.weights)
    rep = np.load(args.representative).astype(np.float32)
    batches = [rep[i:i + args.batch] for i in range(0, len(rep), args.batch)]

    def representative_data_gen():
        for b in batches:
            yield [b]

    tpc = get_target_platform_capabilities(tpc_version=args.tpc_version, device_type="imx500")
    qmodel, _ = mct.ptq.keras_post_training_quantization(
        model, representative_data_gen, target_platform_capabilities=tpc)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.model}_mct.keras"
    mct.exporter.keras_export_model(model=qmodel, save_model_path=str(path))
    # How far quantization moved the outputs on the representative set, for the report.
    ref = model.predict(rep, verbose=0)
    q = qmodel.predict(rep, verbose=0)
    print("RESULT " + json.dumps({
        "quantized_model": str(path), "probe_max_abs_diff": probe_err, "tpc_version": args.tpc_version,
        "representative_samples": int(len(rep)), "mct_version": mct.__version__,
        "output_mean_abs_change": float(np.mean(np.abs(q - ref))),
    }))


if __name__ == "__main__":
    main()
