"""The qemu image with tflite-micro + CMSIS-NN runs a shipped model bit-exactly.

The image (make -C firmware qemu-tflm, after firmware/tflm/build.sh) boots in qemu-system-arm on
mps2-an500 (Cortex-M7) or mps2-an386 (Cortex-M4F); TinyTrackerS is uploaded over its UART and run
on host inputs. Every output must equal, bit for bit, what the host computes from the same input
tensor with the tflite_micro wheel and with LiteRT's reference kernels (BUILTIN_REF). LiteRT's
default kernels (XNNPACK), which the emulator runs, round differently: on these models they differ
from every TFLM build by up to a few output steps, so they are not the reference here.
Where no tflite-micro build is present (CI), the tests skip with the command that makes one.
TinyTracker itself (643 KB, a minutes-long upload over the emulated UART) runs through
firmware/tools/qemu_model.py; docs/firmware.md has its figures.
"""
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import hostlink

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
sys.path.insert(0, str(FIRMWARE / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
import qemu_model  # noqa: E402
from firmware_launchers import QEMU_MACHINES, qemu_tflm_image  # noqa: E402

MODEL = Path(hostlink.__file__).resolve().parent / "data" / "models" / "tinytrackers_int8.tflite"

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm")


def litert_reference(model: bytes, xs):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    out = []
    for x in xs:
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        out.append([it.get_tensor(d["index"]) for d in it.get_output_details()])
    return out


@pytest.mark.parametrize("cpu", sorted(QEMU_MACHINES))
def test_tinytrackers_runs_bit_exact_in_the_qemu_image(cpu):
    qemu_tflm_image(cpu)  # builds it, or skips saying how to get a tflite-micro build
    info, _, xs, got, want = qemu_model.run(cpu, MODEL, n_inputs=2)
    assert info.loaded and "tflite-micro" in info.engine and "CMSIS-NN" in info.engine
    assert 0 < info.arena_bytes < 640 * 1024 and info.macs > 0 and info.expected_frame_us > 0
    ref = litert_reference(MODEL.read_bytes(), xs)
    for outs, w, r in zip(got, want, ref):
        assert len(outs) == len(w) == len(r) == len(info.outputs)
        for o, a, b in zip(outs, w, r):
            assert o.dtype == a.dtype and o.shape == a.shape
            assert np.array_equal(o, a) and np.array_equal(o, b), (cpu, o, a, b)
