"""Which layers does Sony's IMX500 toolchain accept? Ask the real converter, one small model each.

Two steps, two environments (`make imx500-layers` runs both):

1. ``probe`` runs inside .venv-imx500 (TensorFlow 2.15, Keras 2, MCT, edge-mdt-tpc,
   imx500-converter; `make imx500-env`). For every case below it builds a one- to few-layer
   Keras model, then
   - exports it to a full-integer INT8 .tflite with the TFLite converter of the same TF, so the
     TFLite ops that layer becomes are read from a real export, not typed by hand;
   - quantizes it with MCT PTQ and the IMX500 target platform capabilities and runs
     ``imxconv-tf`` on the result, recording accepted or refused with the converter's own
     message and, when accepted, its memory report (in bytes).
   Everything runs in one process: imxconv-tf's entry point is called in-process, which saves
   TensorFlow's import on every case (its Java back end still starts per case).

       .venv-imx500/bin/python tools/imx500_layer_probe.py probe --out build/imx500_layers

2. ``collect`` runs in hostlink's own .venv: it reads every exported .tflite with hostlink's
   parser (``hostlink.models.analyze``, the reader the emulator uses) for the op names, params
   and activation sizes, fits the memory model (``hostlink.models.imx500_layers``) and writes
   the table the IMX500 admission reads.

       .venv/bin/python tools/imx500_layer_probe.py collect build/imx500_layers \\
           --write hostlink/data/imx500_layers.json

Network cases: the bundled architectures from tools/models (random weights: acceptance and
memory depend on the graph, not the values) and, when given with ``--keras FILE.h5``, published
float Keras models such as the MLPerf Tiny VWW and IC references.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Per-case limit; a Java back end that stalls must not hold up the whole table.
CASE_TIMEOUT_S = 300
SEED = 0
#: Published float Keras models converted as whole networks when no --keras is given.
REFERENCE_DIR = REPO / "hostlink" / "data" / "reference_models"


@dataclass
class Case:
    name: str
    #: The Keras layer (or tf op) under test, as a reader would name it.
    keras: str
    #: Builds the output from the input tensor (Keras 2 functional API).
    build: object
    input_shape: tuple = (16, 16, 8)
    #: "layer" cases feed the op table; "network" cases check whole published graphs.
    kind: str = "layer"
    note: str = ""


def _cases(tf) -> list[Case]:
    L = tf.keras.layers
    rng = __import__("numpy").random.default_rng(SEED)
    const = rng.standard_normal((1, 1, 1, 8)).astype("float32")

    def conv1(x, ch=8):
        return L.Conv2D(ch, 1)(x)

    def hard_swish(x):
        return L.Multiply()([x, L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)])

    c = [
        Case("conv2d_3x3", "Conv2D 3x3", lambda x: L.Conv2D(8, 3, padding="same")(x)),
        Case("conv2d_1x1", "Conv2D 1x1", lambda x: L.Conv2D(16, 1)(x)),
        Case("conv2d_strided", "Conv2D 3x3 stride 2", lambda x: L.Conv2D(8, 3, strides=2, padding="same")(x)),
        Case("conv2d_valid_5x5", "Conv2D 5x5 valid", lambda x: L.Conv2D(8, 5)(x)),
        Case("conv2d_dilated", "Conv2D 3x3 dilation 2", lambda x: L.Conv2D(8, 3, dilation_rate=2, padding="same")(x)),
        Case("conv2d_relu_fused", "Conv2D + ReLU (fused)", lambda x: L.Conv2D(8, 3, padding="same", activation="relu")(x)),
        Case("conv2d_bn_fused", "Conv2D + BatchNormalization (folded)",
             lambda x: L.BatchNormalization()(L.Conv2D(8, 3, padding="same", use_bias=False)(x))),
        Case("depthwise_conv2d", "DepthwiseConv2D 3x3", lambda x: L.DepthwiseConv2D(3, padding="same")(x)),
        Case("depthwise_conv2d_strided", "DepthwiseConv2D 3x3 stride 2",
             lambda x: L.DepthwiseConv2D(3, strides=2, padding="same")(x)),
        Case("depthwise_multiplier2", "DepthwiseConv2D depth_multiplier 2",
             lambda x: L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)),
        Case("separable_conv2d", "SeparableConv2D 3x3", lambda x: L.SeparableConv2D(16, 3, padding="same")(x)),
        Case("conv2d_transpose", "Conv2DTranspose 2x2 stride 2", lambda x: L.Conv2DTranspose(8, 2, strides=2)(x)),
        Case("conv2d_transpose_3x3", "Conv2DTranspose 3x3 stride 2 same",
             lambda x: L.Conv2DTranspose(8, 3, strides=2, padding="same")(x)),
        Case("dense", "Flatten + Dense", lambda x: L.Dense(10)(L.Flatten()(x)), input_shape=(4, 4, 8)),
        Case("dense_softmax", "Dense(activation=softmax)",
             lambda x: L.Dense(10, activation="softmax")(L.Flatten()(x)), input_shape=(4, 4, 8)),
        Case("dense_4d", "Dense on a 4-D tensor", lambda x: L.Dense(4)(x)),
        Case("average_pooling2d", "AveragePooling2D 2x2", lambda x: L.AveragePooling2D(2)(x)),
        Case("average_pooling2d_3x3_s1", "AveragePooling2D 3x3 stride 1 same",
             lambda x: L.AveragePooling2D(3, strides=1, padding="same")(x)),
        Case("average_pooling2d_global", "AveragePooling2D over the whole map (MLPerf VWW/IC head)",
             lambda x: L.Flatten()(L.AveragePooling2D(8)(x)), input_shape=(8, 8, 16)),
        Case("max_pooling2d", "MaxPooling2D 2x2", lambda x: L.MaxPooling2D(2)(x)),
        Case("max_pooling2d_3x3_s2", "MaxPooling2D 3x3 stride 2 same",
             lambda x: L.MaxPooling2D(3, strides=2, padding="same")(x)),
        Case("global_average_pooling2d", "GlobalAveragePooling2D", lambda x: L.GlobalAveragePooling2D()(x)),
        Case("global_average_pooling2d_keepdims", "GlobalAveragePooling2D(keepdims=True)",
             lambda x: L.GlobalAveragePooling2D(keepdims=True)(x)),
        Case("global_max_pooling2d", "GlobalMaxPooling2D", lambda x: L.GlobalMaxPooling2D()(x)),
        Case("reduce_mean", "tf.reduce_mean over H, W", lambda x: tf.reduce_mean(x, axis=[1, 2], keepdims=True)),
        Case("reduce_max", "tf.reduce_max over H, W", lambda x: tf.reduce_max(x, axis=[1, 2], keepdims=True)),
        Case("softmax", "Softmax (channels, 4-D)", lambda x: L.Softmax()(x)),
        Case("softmax_vector", "Flatten + Softmax", lambda x: L.Softmax()(L.Flatten()(x)), input_shape=(1, 1, 10)),
        Case("relu", "ReLU", lambda x: L.ReLU()(x)),
        Case("relu6", "ReLU(max_value=6)", lambda x: L.ReLU(6.0)(x)),
        Case("leaky_relu", "LeakyReLU(0.1)", lambda x: L.LeakyReLU(0.1)(x)),
        Case("prelu", "PReLU (per channel)", lambda x: L.PReLU(shared_axes=[1, 2])(x)),
        Case("hard_swish", "hard-swish x*ReLU6(x+3)/6 (MobileNetV3)", hard_swish),
        Case("hard_sigmoid", "Activation(hard_sigmoid)", lambda x: L.Activation("hard_sigmoid")(x)),
        Case("sigmoid", "Activation(sigmoid)", lambda x: L.Activation("sigmoid")(x)),
        Case("tanh", "Activation(tanh)", lambda x: L.Activation("tanh")(x)),
        Case("swish", "Activation(swish)", lambda x: L.Activation("swish")(x)),
        Case("gelu", "Activation(gelu)", lambda x: L.Activation("gelu")(x)),
        Case("elu", "Activation(elu)", lambda x: L.Activation("elu")(x)),
        Case("batch_norm_alone", "BatchNormalization (not after a conv)", lambda x: L.BatchNormalization()(x)),
        Case("add", "Add of two branches", lambda x: L.Add()([x, conv1(x)])),
        Case("add_const", "x + constant", lambda x: x + const),
        Case("multiply", "Multiply of two branches", lambda x: L.Multiply()([x, conv1(x)])),
        Case("multiply_const", "x * constant", lambda x: x * const),
        Case("subtract", "Subtract of two branches", lambda x: L.Subtract()([x, conv1(x)])),
        Case("minimum", "Minimum of two branches", lambda x: L.Minimum()([x, conv1(x)])),
        Case("maximum", "Maximum of two branches", lambda x: L.Maximum()([x, conv1(x)])),
        Case("concatenate", "Concatenate (channels)", lambda x: L.Concatenate()([x, conv1(x)])),
        Case("reshape", "Reshape (H*W, C)", lambda x: L.Reshape((16 * 16, 8))(x)),
        Case("flatten", "Flatten", lambda x: L.Flatten()(x)),
        Case("permute", "Permute (W, H, C)", lambda x: L.Permute((2, 1, 3))(x)),
        Case("transpose_channels_first", "tf.transpose to C, H, W", lambda x: tf.transpose(x, [0, 3, 1, 2])),
        Case("upsampling2d_nearest", "UpSampling2D nearest", lambda x: L.UpSampling2D(2, interpolation="nearest")(x)),
        Case("upsampling2d_bilinear", "UpSampling2D bilinear",
             lambda x: L.UpSampling2D(2, interpolation="bilinear")(x)),
        Case("resizing_bilinear", "Resizing 24x24 bilinear", lambda x: L.Resizing(24, 24)(x)),
        Case("resizing_nearest", "Resizing 24x24 nearest", lambda x: L.Resizing(24, 24, interpolation="nearest")(x)),
        Case("zero_padding2d", "ZeroPadding2D 1", lambda x: L.ZeroPadding2D(1)(x)),
        Case("cropping2d", "Cropping2D 2", lambda x: L.Cropping2D(2)(x)),
        Case("split", "tf.split into 2 along channels", lambda x: L.Add()(tf.split(x, 2, axis=-1))),
        Case("slice", "tf.slice", lambda x: tf.slice(x, [0, 2, 2, 0], [-1, 8, 8, 8])),
        Case("strided_slice", "x[:, ::2, ::2, :4] (strided_slice)", lambda x: x[:, ::2, ::2, :4]),
        Case("space_to_depth", "tf.nn.space_to_depth 2", lambda x: tf.nn.space_to_depth(x, 2)),
        Case("depth_to_space", "tf.nn.depth_to_space 2", lambda x: tf.nn.depth_to_space(x, 2)),
        Case("argmax", "tf.argmax over channels", lambda x: tf.argmax(x, axis=-1)),
        Case("dropout", "Dropout (removed at export)", lambda x: L.Dropout(0.5)(conv1(x))),
    ]
    return c


def _network_cases(tf, keras_files: list[Path]) -> list[Case]:
    sys.path.insert(0, str(REPO / "tools" / "models"))
    import qsegment
    import tinytracker

    out = []
    for name, fn, shape in (("tinytrackers", tinytracker.tinytrackers, None),
                            ("tinytracker", tinytracker.tinytracker, None),
                            ("qsegment", qsegment.qsegment, None)):
        out.append(Case(f"net_{name}", f"bundled {name} architecture (tools/models, random weights)",
                        fn, shape, kind="network"))
    # Keras Applications graphs (weights=None: nothing is downloaded) spread the memory model's
    # points from a few hundred KB to past the 8 MB on-chip total.
    apps = tf.keras.applications
    for name, fn, kw in (
            ("mobilenet_v1_0.25_128", apps.MobileNet, dict(input_shape=(128, 128, 3), alpha=0.25)),
            ("mobilenet_v2_0.35_96", apps.MobileNetV2, dict(input_shape=(96, 96, 3), alpha=0.35)),
            ("mobilenet_v2_1.0_224", apps.MobileNetV2, dict(input_shape=(224, 224, 3), alpha=1.0)),
            ("mobilenet_v1_1.0_224", apps.MobileNet, dict(input_shape=(224, 224, 3), alpha=1.0)),
            ("mobilenet_v2_1.4_224", apps.MobileNetV2, dict(input_shape=(224, 224, 3), alpha=1.4))):
        out.append(Case(f"net_{name}", f"keras.applications {fn.__name__} {name} (random weights, 1000 classes)",
                        (lambda fn=fn, kw=kw: fn(weights=None, **kw)), None, kind="network"))
    for path in keras_files:
        out.append(Case(f"net_{path.stem}", f"{path.name} (float Keras model)", path, None, kind="network"))
    return out


def _build(tf, case: Case):
    if case.kind == "network":
        if isinstance(case.build, Path):
            return tf.keras.models.load_model(case.build, compile=False)
        return case.build()
    inp = tf.keras.Input(case.input_shape)
    return tf.keras.Model(inp, case.build(inp), name=case.name)


def _rep_batches(model, n_batches=2, batch=4):
    import numpy as np

    rng = np.random.default_rng(SEED)
    shape = tuple(model.input_shape[1:])
    return [rng.standard_normal((batch, *shape)).astype(np.float32) for _ in range(n_batches)]


def _export_int8(tf, model, batches, path: Path) -> str | None:
    """Full-integer INT8 export, float I/O (QUANTIZE/DEQUANTIZE at the edges); None = exported."""
    def rep():
        for b in batches:
            for i in range(len(b)):
                yield [b[i:i + 1]]

    try:
        # Batch fixed at 1, as the bundled models are exported: a free batch dimension makes the
        # converter add SHAPE/PACK/STRIDED_SLICE bookkeeping that no layer asked for.
        spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
        fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
        conv = tf.lite.TFLiteConverter.from_concrete_functions([fn], model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        path.write_bytes(conv.convert())
        return None
    except Exception as exc:  # the converter's own words are the record
        return _one_line(f"{type(exc).__name__}: {exc}")


def _one_line(text: str, limit: int = 300) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    # TF's converter errors put the useful line after "error:"; keep the first such line.
    pick = next((ln for ln in lines if "error:" in ln.lower()), lines[0] if lines else "no message")
    pick = re.sub(r"\s+", " ", pick)
    return pick if len(pick) <= limit else pick[:limit - 3] + "..."


_ERR = re.compile(r"\bERROR\s*:\s*(.*)")
_LOGGER_TAIL = re.compile(r"\s*\[[^\]]*\.py:\d+\]\s*$")
#: A new log record starts with a date; anything else continues the record above it.
_RECORD = re.compile(r"^\d{4}-\d\d-\d\d[ T]")


def _converter_message(log: str) -> str:
    """The converter's ERROR records (with their continuation lines: the node, the parameter and
    the reason), the first one kept; else the last non-empty line."""
    errs, cur = [], None
    for line in log.splitlines() + ["2000-01-01 end"]:
        if _RECORD.match(line):
            if cur is not None:
                msg = _LOGGER_TAIL.sub("", " ".join(cur)).strip()
                if msg and msg not in errs:
                    errs.append(msg)
            m = _ERR.search(line)
            cur = [m.group(1)] if m else None
        elif cur is not None and line.strip():
            cur.append(_LOGGER_TAIL.sub("", line.strip()))
    if errs:
        return _one_line(errs[0], 400)
    tail = [ln for ln in log.strip().splitlines() if ln.strip()]
    return _one_line(tail[-1] if tail else "no output", 400)


@contextlib.contextmanager
def _capture_fds(path: Path):
    """Send fd 1 and 2 (Python, TF's C++ logs and the Java back end alike) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "w") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


_BYTES = re.compile(r"^\s*([0-9.]+)\s*B\s*$")


def _memory_report(out_dir: Path) -> dict | None:
    reports = sorted(out_dir.glob("*_MemoryReport.json"))
    if not reports:
        return None
    rep = json.loads(reports[0].read_text()).get("Memory Report", {})
    out = {}
    for key, field in (("Runtime Memory Physical Size", "runtime_bytes"), ("Model Memory Physical Size", "model_bytes"),
                       ("Reserved Memory", "reserved_bytes"), ("Memory Usage", "usage_bytes"),
                       ("Total Memory Available On Chip", "available_bytes")):
        m = _BYTES.match(str(rep.get(key, "")))
        out[field] = int(float(m.group(1))) if m else None
    out["fits"] = bool(rep.get("Fit In Chip"))
    nets = rep.get("Networks") or [{}]
    m = _BYTES.match(str(nets[0].get("Input Persistence Cost", "")))
    out["input_persistence_bytes"] = int(float(m.group(1))) if m else None
    return out


def probe(args) -> int:
    import signal

    import numpy as np
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    import model_compression_toolkit as mct
    from edgemdt_tpc import get_target_platform_capabilities
    from imx500_converter import main_tf as imxconv

    versions = {"tensorflow": tf.__version__, "model_compression_toolkit": mct.__version__,
                "imx500_converter": _dist_version("imx500-converter"), "edge_mdt_tpc": _dist_version("edge-mdt-tpc"),
                "tpc_version": args.tpc_version}
    out = Path(args.out)
    (out / "tflite").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="imx500-probe-"))
    tpc = get_target_platform_capabilities(tpc_version=args.tpc_version, device_type="imx500")

    keras_files = [Path(p) for p in args.keras] or sorted(REFERENCE_DIR.glob("**/*.h5"))
    args.keras = [str(p) for p in keras_files]
    cases = _cases(tf) + (_network_cases(tf, keras_files) if not args.no_networks else [])
    if args.only:
        keep = set(args.only.split(","))
        cases = [c for c in cases if c.name in keep]
    signal.signal(signal.SIGALRM, _alarm)
    results = []
    t_all = time.time()
    for i, case in enumerate(cases, 1):
        t0 = time.time()
        tf.keras.utils.set_random_seed(SEED)
        row = {"name": case.name, "kind": case.kind, "keras": case.keras}
        try:
            model = _build(tf, case)
        except Exception as exc:
            row.update(accepted=None, stage="build", message=_one_line(f"{type(exc).__name__}: {exc}"))
            results.append(row)
            print(f"[{i}/{len(cases)}] {case.name}: cannot build: {row['message']}", flush=True)
            continue
        row["keras_layers"] = sorted({type(layer).__name__ for layer in model.layers} - {"InputLayer"})
        row["input_shape"] = list(model.input_shape[1:])
        row["keras_params"] = int(model.count_params())
        batches = _rep_batches(model)
        tfl = out / "tflite" / f"{case.name}.tflite"
        row["tflite_error"] = _export_int8(tf, model, batches, tfl)
        row["tflite"] = tfl.name if row["tflite_error"] is None else None
        t_mct = time.time()

        log = work / f"{case.name}.log"
        conv_dir = work / case.name
        row.update(accepted=False, stage="mct", message=None, memory=None)
        signal.alarm(CASE_TIMEOUT_S)
        try:
            with _capture_fds(log):
                def rep():
                    for b in batches:
                        yield [b]
                qmodel, _ = mct.ptq.keras_post_training_quantization(model, rep, target_platform_capabilities=tpc)
                qpath = work / f"{case.name}_mct.keras"
                mct.exporter.keras_export_model(model=qmodel, save_model_path=str(qpath))
                row["stage"] = "imxconv"
                t_conv = time.time()
                rc = imxconv.main(cli_args=["-i", str(qpath), "-o", str(conv_dir), "--overwrite-output",
                                            "--report-size-unit", "B"])
            row["returncode"] = rc if isinstance(rc, int) else None
        except _Timeout:
            row["message"] = f"no answer within {CASE_TIMEOUT_S} s"
        except SystemExit as exc:  # the converter's CLI exits on refusal
            row["returncode"] = exc.code if isinstance(exc.code, int) else 1
        except Exception as exc:  # MCT raises on layers it cannot quantize
            row["message"] = _one_line(f"{type(exc).__name__}: {exc}")
        finally:
            signal.alarm(0)
        text = log.read_text(errors="replace") if log.exists() else ""
        mem = _memory_report(conv_dir) if row["stage"] == "imxconv" else None
        ok = (row["stage"] == "imxconv" and row.get("returncode") in (0, None) and mem is not None
              and (conv_dir / "packerOut.zip").exists())
        row["accepted"] = ok
        row["memory"] = mem
        if not ok and row["message"] is None:
            row["message"] = _converter_message(text)
        if ok:
            row["stage"] = "imxconv"
            row["message"] = "converted"
        row["seconds"] = round(time.time() - t0, 1)
        if row["stage"] == "imxconv":  # where the time goes: export+build, MCT, imxconv-tf
            row["split_s"] = [round(t_mct - t0, 1), round(t_conv - t_mct, 1), round(time.time() - t_conv, 1)]
        results.append(row)
        verdict = "accepted" if ok else f"REFUSED ({row['stage']}): {row['message']}"
        mem_txt = f" memory {mem['usage_bytes']:,} B" if ok and mem and mem.get("usage_bytes") else ""
        print(f"[{i}/{len(cases)}] {case.name}: {verdict}{mem_txt} [{row['seconds']} s]", flush=True)
        tf.keras.backend.clear_session()
        doc = _write_probe(out, versions, args, results, t_all)  # after every case: a crash keeps what ran

    doc = _write_probe(out, versions, args, results, t_all)
    n_ok = sum(1 for r in results if r["accepted"])
    print(f"{n_ok}/{len(results)} cases accepted by imxconv-tf {versions['imx500_converter']} "
          f"in {doc['seconds']} s; raw results in {out / 'probe.json'}")
    return 0


def _write_probe(out: Path, versions: dict, args, results: list, t_all: float) -> dict:
    doc = {"versions": versions, "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
           "command": " ".join(["python"] + [a.replace(str(REPO) + "/", "") for a in sys.argv]),
           "seconds": round(time.time() - t_all), "keras_files": [str(p) for p in args.keras], "cases": results}
    (out / "probe.json").write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


_NOT_ENOUGH = re.compile(r"Not enough memory, available:\s*([0-9.]+\s*[KMG]?B)\s*,\s*required:\s*([0-9.]+\s*[KMG]?B)")


def _size(text: str) -> int:
    num, unit = re.match(r"([0-9.]+)\s*([KMG]?B)", text).groups()
    return int(round(float(num) * {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[unit]))


def _file_record(path: Path) -> dict:
    import hashlib

    rec = {"file": path.name}
    if path.exists():
        rec.update(bytes=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    return rec


def collect(args) -> int:
    sys.path.insert(0, str(REPO))
    from hostlink.models import analyze
    from hostlink.models import imx500_layers as il

    src = Path(args.probe_dir)
    raw = json.loads((src / "probe.json").read_text())
    cases = []
    for row in raw["cases"]:
        entry = {k: row.get(k) for k in ("name", "kind", "keras", "keras_layers", "input_shape", "accepted",
                                         "stage", "message", "tflite_error")}
        entry["tflite_ops"] = []
        if row.get("tflite"):
            data = (src / "tflite" / row["tflite"]).read_bytes()
            rep = analyze(data, name=row["tflite"])
            entry["tflite_ops"] = sorted(set(rep.ops))
            entry["tflite_int8"] = rep.int8
            entry["features"] = il.features(rep)
        if row.get("memory"):
            entry["memory"] = row["memory"]
        elif (m := _NOT_ENOUGH.search(row.get("message") or "")):
            # Refused for memory: the converter states what it needed, with no report to read.
            entry["memory"] = {"usage_bytes": _size(m.group(2)), "available_bytes": _size(m.group(1)),
                               "fits": False, "from": "refusal message"}
        cases.append(entry)
    table = {
        "about": ("What Sony's IMX500 toolchain (MCT PTQ with the IMX500 TPC, then imxconv-tf) accepted, one "
                  "small Keras model per case; tflite_ops: the TFLite builtins the same Keras model becomes "
                  "when exported to full-integer INT8 by the TFLite converter of the same TF, read with "
                  "hostlink's parser. Regenerate with `make imx500-layers` (docs/models.md)."),
        "versions": raw["versions"], "date": raw["date"],
        "command": "make imx500-layers",
        "probe_command": raw["command"].replace(str(REPO) + "/", ""),
        "probe_seconds": raw["seconds"],
        "collect_command": " ".join(["python", "tools/imx500_layer_probe.py"] + sys.argv[1:]).replace(
            str(REPO) + "/", ""),
        "keras_files": [_file_record(Path(p)) for p in raw.get("keras_files", [])],
        "keras_source": args.keras_source,
        "cases": cases,
    }
    n_ok = sum(1 for c in cases if c["accepted"])
    if args.no_fit:  # a partial probe (--only): verdicts and ops, no memory model
        Path(args.write).write_text(json.dumps(table, indent=1) + "\n")
        print(f"{n_ok}/{len(cases)} accepted; wrote {args.write} (no memory model)")
        return 0
    table["memory_model"] = il.fit_memory_model(cases)
    Path(args.write).write_text(json.dumps(table, indent=1) + "\n")
    mm = table["memory_model"]
    print(f"{n_ok}/{len(cases)} accepted; memory model over "
          f"{mm['points']} converter reports: leave-one-out error median {mm['loo_median_pct']:.1f} %, "
          f"max {mm['loo_max_pct']:.1f} %; wrote {args.write}")
    return 0


def summary(args) -> int:
    """The table as markdown, for docs/models.md."""
    doc = json.loads(Path(args.table).read_text())
    v = doc["versions"]
    print(f"imx500-converter {v['imx500_converter']}, model-compression-toolkit {v['model_compression_toolkit']}, "
          f"edge-mdt-tpc {v['edge_mdt_tpc']} (TPC {v['tpc_version']}), TensorFlow {v['tensorflow']}; {doc['date']}\n")
    for kind, title in (("layer", "layer"), ("network", "network")):
        print(f"| {title} | INT8 TFLite ops | imxconv-tf | memory usage |")
        print("|---|---|---|---|")
        for c in doc["cases"]:
            if c["kind"] != kind:
                continue
            ops = ", ".join(op for op in c["tflite_ops"] if op not in ("QUANTIZE", "DEQUANTIZE")) or \
                ("(export failed)" if c.get("tflite_error") else "(none: folded away)")
            if kind == "network":
                ops = f"{len(c['tflite_ops'])} op types"
            verdict = "accepted" if c["accepted"] else f"refused: {c['message']}"
            mem = c.get("memory") or {}
            usage = f"{mem['usage_bytes']:,} B" if mem.get("usage_bytes") else ""
            print(f"| {c['keras']} | {ops} | {verdict} | {usage} |")
        print()
    mm = doc.get("memory_model")
    if mm:
        print(f"memory model: {mm['points']} reports, leave-one-out error median {mm['loo_median_pct']} %, "
              f"max {mm['loo_max_pct']} %; coefficients {mm['coefficients']}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe", help="run the cases through the converter (inside .venv-imx500)")
    p.add_argument("--out", default=str(REPO / "build" / "imx500_layers"))
    p.add_argument("--only", help="comma-separated case names")
    p.add_argument("--keras", action="append", default=[], metavar="FILE.h5",
                   help="also convert this float Keras model (repeatable)")
    p.add_argument("--no-networks", action="store_true", help="layer cases only")
    p.add_argument("--tpc-version", default="4.0")
    c = sub.add_parser("collect", help="read the exports with hostlink and write the table (hostlink's .venv)")
    c.add_argument("probe_dir")
    c.add_argument("--write", default=str(REPO / "hostlink" / "data" / "imx500_layers.json"))
    c.add_argument("--no-fit", action="store_true", help="skip the memory model (partial probes)")
    c.add_argument("--keras-source", default=None, help="where the --keras files were published (recorded)")
    m = sub.add_parser("summary", help="print the committed table as markdown")
    m.add_argument("table", nargs="?", default=str(REPO / "hostlink" / "data" / "imx500_layers.json"))
    args = ap.parse_args(argv)
    return {"probe": probe, "collect": collect, "summary": summary}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
