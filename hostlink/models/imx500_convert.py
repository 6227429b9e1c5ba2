"""Convert a bundled model for the IMX500: Sony's MCT post-training quantization with the IMX500
target platform capabilities, then `imxconv-tf`, giving packerOut.zip and the memory report.

Both tools need TensorFlow 2.15 / Keras 2 and live in their own venv (`make imx500-env` creates
.venv-imx500); hostlink's runtime has no TensorFlow, so they run as subprocesses:

1. ``imx500_worker.py`` (in that venv) rebuilds the architecture from tools/models, loads the
   weights `tools/models/build.py` saved (build/models/NAME.weights.npz), checks them against
   the probe output, runs MCT PTQ on a representative set made here and exports a quantized
   Keras model;
2. ``imxconv-tf -i that.keras -o OUT`` writes packerOut.zip, NAME_MemoryReport.json,
   dnnParams.xml and NAME.pbtxt.

The converter's memory report is the authority on whether the network fits the sensor's on-chip
memory (boards.md §3.1); :class:`Imx500Result` carries it as read. Packaging packerOut.zip into
an .rpk (`imx500-package`) only runs on a Raspberry Pi with imx500-tools.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..checkout import checkout_path, source_checkout
from ..errors import ConfigError, HostlinkError

MODELS = ("tinytracker", "tinytrackers", "qsegment")
#: The source checkout the toolchain venv, trained weights and model definitions live in (None when
#: hostlink runs from an installed wheel outside one: the flows below then say so).
REPO_ROOT = source_checkout()
WORKER = Path(__file__).with_name("imx500_worker.py")
#: MCT's statistics pass; the paper's TFLite PTQ used ~500 samples, MCT is content with fewer.
DEFAULT_SAMPLES = 300


class ConversionError(HostlinkError):
    """The IMX500 toolchain refused the model or failed."""

    exit_code = 5


@dataclass
class Imx500Env:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def imxconv(self) -> Path:
        return self.root / "bin" / "imxconv-tf"


def find_env(path: str | os.PathLike | None = None) -> Imx500Env:
    """The IMX500 toolchain venv: ``path``, else $HOSTLINK_IMX500_VENV, else <repo>/.venv-imx500."""
    root = Path(path or os.environ.get("HOSTLINK_IMX500_VENV") or checkout_path(".venv-imx500", what="the default IMX500 toolchain venv"))
    env = Imx500Env(root)
    if not env.python.exists() or not env.imxconv.exists():
        raise ConfigError(f"no IMX500 toolchain at {root} (needs bin/python and bin/imxconv-tf)",
                          hint="run `make imx500-env` (model-compression-toolkit, imx500-converter[tf], "
                               "TF 2.15, Java 17), or set HOSTLINK_IMX500_VENV")
    if shutil.which("java") is None:
        raise ConfigError("imxconv-tf needs a Java runtime and none is on PATH",
                          hint="install Java 17 (apt-get install openjdk-17-jre-headless)")
    return env


def model_name(spec: str) -> str:
    """Bundled model name from 'tinytracker', 'tinytracker_int8.tflite' or a weights bundle path."""
    stem = Path(spec).name
    for suffix in (".weights.npz", ".tflite", ".keras", ".card.json"):
        stem = stem.removesuffix(suffix)
    stem = stem.removesuffix("_int8")
    if stem not in MODELS:
        raise ConfigError(f"{spec}: the IMX500 conversion knows the bundled models only ({', '.join(MODELS)})",
                          hint="MCT needs the float Keras model; a .tflite has already been quantized")
    return stem


def weights_for(spec: str, build_dir: Path | None = None) -> tuple[str, Path]:
    name = model_name(spec)
    path = Path(spec)
    if not (path.name.endswith(".weights.npz") and path.exists()):
        path = (build_dir or checkout_path("build", "models", what="trained weights (make models)")) / f"{name}.weights.npz"
    if not path.exists():
        raise ConfigError(f"no trained weights for {name} at {path}",
                          hint="run `make models` (tools/models/build.py writes build/models/NAME.weights.npz)")
    return name, path


_SIZE = re.compile(r"^\s*([0-9.]+)\s*([KMG]?B)\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}


def parse_size(text) -> int | None:
    """'550.03KB' -> bytes (the report's human units are powers of 1024); numbers pass through."""
    if isinstance(text, (int, float)):
        return int(text)
    m = _SIZE.match(str(text))
    return int(round(float(m.group(1)) * _UNITS[m.group(2).upper()])) if m else None


@dataclass
class Imx500Result:
    model: str
    out_dir: Path
    packer_out: Path | None
    memory_report_path: Path
    report: dict
    worker: dict = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return bool(self.report.get("Fit In Chip"))

    def summary(self) -> dict:
        r = self.report
        return {"model": self.model, "fits": self.fits, "packer_out": str(self.packer_out) if self.packer_out else None,
                "memory_report": str(self.memory_report_path),
                **{k: r.get(k) for k in ("Total Memory Available On Chip", "Memory Usage", "Memory Utilization",
                                         "Model Memory Physical Size", "Runtime Memory Physical Size",
                                         "Reserved Memory", "Input Persistent")},
                "memory_usage_bytes": parse_size(r.get("Memory Usage")),
                "available_bytes": parse_size(r.get("Total Memory Available On Chip")),
                "mct": self.worker}


def _run(cmd, timeout_s, what):
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"{what} took longer than {timeout_s:.0f} s",
                              hint="a loaded host is slow; raise --timeout") from None
    return proc


def _tool_error(text: str) -> str:
    """The converter's own ERROR lines (e.g. '[USOP] The network contains unsupported ops: ...')."""
    errs = [re.sub(r"\s*\[[^\]]*logger\.py:\d+\]\s*$", "", line.split("ERROR :", 1)[1]).strip()
            for line in text.splitlines() if "ERROR :" in line]
    if errs:
        return "; ".join(errs)
    tail = [line for line in text.strip().splitlines() if line.strip()][-3:]
    return " | ".join(tail) or "no output"


def convert(spec: str, out_dir: str | os.PathLike, representative: np.ndarray, env: Imx500Env | None = None,
            build_dir: Path | None = None, arch_dir: Path | None = None, timeout_s: float = 1800,
            log=print) -> Imx500Result:
    """Quantize (MCT) and convert (imxconv-tf) bundled model ``spec`` into ``out_dir``.

    ``representative``: float inputs like the training data, for MCT's statistics
    (``hostlink.datasets.representative.representative_set`` makes them from the generators)."""
    env = env or find_env()
    name, weights = weights_for(spec, build_dir)
    arch_dir = Path(arch_dir or checkout_path("tools", "models", what="the model definitions (tools/models)"))
    if not (arch_dir / "tinytracker.py").exists():
        raise ConfigError(f"model definitions not found in {arch_dir}",
                          hint="run from a hostlink source checkout (tools/models/)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rep_path = out / f"{name}_representative.npy"
    log(f"representative set: {len(representative)} samples")
    np.save(rep_path, np.asarray(representative, np.float32))

    log(f"MCT post-training quantization (IMX500 TPC) in {env.root}")
    proc = _run([env.python, WORKER, "--arch-dir", arch_dir, "--model", name, "--weights", weights,
                 "--representative", rep_path, "--out", out], timeout_s, "MCT quantization")
    result_line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or result_line is None:
        raise ConversionError(f"MCT quantization of {name} failed: {_tool_error(proc.stderr + proc.stdout)}",
                              hint=f"run it by hand: {env.python} {WORKER} --help")
    worker = json.loads(result_line[len("RESULT "):])
    rep_path.unlink()

    log("imxconv-tf")
    conv_dir = out / "imxconv"
    proc = _run([env.imxconv, "-i", worker["quantized_model"], "-o", conv_dir, "--overwrite-output"],
                timeout_s, "imxconv-tf")
    text = proc.stdout + proc.stderr
    (out / "imxconv.log").write_text(text)
    reports = sorted(conv_dir.glob("*_MemoryReport.json"))
    if not reports:
        raise ConversionError(f"imxconv-tf did not convert {name}: {_tool_error(text)}",
                              hint=f"full log in {out / 'imxconv.log'}")
    report = json.loads(reports[0].read_text()).get("Memory Report", {})
    packer = conv_dir / "packerOut.zip"
    if proc.returncode != 0 and not packer.exists():
        raise ConversionError(f"imxconv-tf failed on {name}: {_tool_error(text)}",
                              hint=f"full log in {out / 'imxconv.log'}")
    return Imx500Result(name, out, packer if packer.exists() else None, reports[0], report, worker)

