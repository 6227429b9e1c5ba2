#!/usr/bin/env python3
"""Run a TFLite model in the qemu image with tflite-micro and check it bit for bit against the host.

    python firmware/tools/qemu_model.py --cpu cortex-m7 hostlink/data/models/tinytracker_int8.tflite

Boots build/<cpu>/hl-qemu-tflm.elf (make -C firmware qemu-tflm) in qemu-system-arm, uploads the
model over the image's UART, runs it on --inputs seeded random input tensors staged from the host,
and compares every output with the tflite_micro wheel's on the same tensor. Prints the image's
MODEL_INFO (engine, arena, MACs, frame time), the upload time and the comparison; exit status 0
only when every output is bit-identical.
"""
import argparse
import contextlib
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import hostlink  # noqa: E402

FIRMWARE = Path(__file__).resolve().parents[1]
MACHINES = {"cortex-m7": "mps2-an500", "cortex-m4f": "mps2-an386"}


@contextlib.contextmanager
def booted(cpu: str, image: Path | None = None):
    image = image or FIRMWARE / "build" / cpu / "hl-qemu-tflm.elf"
    if not image.is_file():
        raise SystemExit(f"qemu_model: no {image}: sh firmware/tflm/build.sh TFLITE_MICRO_DIR {cpu}, "
                         "then make -C firmware qemu-tflm")
    proc = subprocess.Popen(["qemu-system-arm", "-M", MACHINES[cpu], "-nographic", "-monitor", "none",
                             "-serial", "pty", "-kernel", str(image)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"(/dev/pts/\d+)", line)
        if not m:
            raise SystemExit(f"qemu_model: qemu-system-arm did not report a serial pty: {line!r}")
        time.sleep(0.05)
        with hostlink.connect(m.group(1)) as dev:
            yield dev
    finally:
        proc.terminate()
        proc.wait(10)


def random_inputs(spec, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    dt = np.dtype(str(spec.dtype).lower())
    lo, hi = np.iinfo(dt).min, np.iinfo(dt).max
    return [rng.integers(lo, hi + 1, size=tuple(spec.shape), dtype=dt) for _ in range(n)]


def tflm_reference(model: bytes, xs: list[np.ndarray], n_outputs: int) -> list[list[np.ndarray]]:
    """Outputs of the host's tflite_micro wheel (reference kernels) for each input."""
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(model)
    out = []
    for x in xs:
        it.set_input(x, 0)
        it.invoke()
        out.append([it.get_output(i).copy() for i in range(n_outputs)])
    return out


def run(cpu: str, model_path: Path, n_inputs: int, seed: int = 16):
    """-> (model info, upload seconds, inputs, board outputs, reference outputs)."""
    model = model_path.read_bytes()
    with booted(cpu) as dev:
        t = time.perf_counter()
        info = dev.upload(model, name=model_path.stem)
        upload_s = time.perf_counter() - t
        xs = random_inputs(info.inputs[0], n_inputs, seed)
        got = [[np.asarray(o) for o in dev.capture(input=x)[0].outputs] for x in xs]
    return info, upload_s, xs, got, tflm_reference(model, xs, len(info.outputs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", choices=sorted(MACHINES), default="cortex-m7")
    ap.add_argument("--inputs", type=int, default=3)
    ap.add_argument("model", type=Path)
    a = ap.parse_args()
    info, upload_s, xs, got, want = run(a.cpu, a.model, a.inputs)
    print(f"{a.cpu} ({MACHINES[a.cpu]}): {a.model.name} {a.model.stat().st_size} B uploaded in {upload_s:.1f} s; "
          f"engine {info.engine!r}; arena {info.arena_bytes} B; {info.macs} MACs; "
          f"first run {info.expected_frame_us / 1000:.1f} ms in qemu")
    same = all(len(g) == len(w) and all(o.dtype == r.dtype and o.shape == r.shape and np.array_equal(o, r)
                                         for o, r in zip(g, w)) for g, w in zip(got, want))
    for x, g, w in zip(xs, got, want):
        print(f"  board {[o.ravel().tolist() for o in g]}  tflite_micro wheel {[r.ravel().tolist() for r in w]}")
    print(f"{len(xs)} inputs: outputs {'bit-identical to' if same else 'DIFFER from'} the tflite_micro wheel")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
