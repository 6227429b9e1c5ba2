"""The C core's model store on the Linux port (ASan + UBSan build), power cut at every storage write
of a commit: the port tears the Nth erase/write of firmware/ports/host's store.bin and exits at once
(``HL_POWERCUT_AT=N``); a fresh process then boots from the same file. Whatever N, the board must
come back with the model it had or the new one, CRC-verified and running, never a corrupt or
missing one. The store file is also parsed here, independently of the C code (hl_store.c's layout)."""
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from hostlink import protocols as P
from hostlink.emulator.firmware import build_host_port
from hostlink.emulator.inference import LiteRTEngine
from hostlink.framing import Deframer, encode_frame
from hostlink.testing.synth_models import tiny_int8_model
from hostlink.protocols import messages as M
from store_file import ALIGN, IMAGE_OFFSET, committed_slots, tear_keep

pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which("cc") is None,
                                reason="needs make and a C compiler")

ROOT = Path(__file__).resolve().parents[2]
# the Spresense profile: a 4 MiB model store, so each copy of the state is small
HELPER = f"{sys.executable} -m hostlink.emulator.hostport --board spresense"
CHUNK = 4000
POWERCUT_EXIT = 99

def _frames_upload(seq: int, name: str, model: bytes) -> tuple[list[bytes], int]:
    crc = zlib.crc32(model)
    out = [encode_frame(P.MsgType.MODEL_BEGIN, 0, seq, M.ModelBegin.build(
        dict(size=len(model), crc32=crc, format="TFLITE", name=name)))]
    seq += 1
    for off in range(0, len(model), CHUNK):
        out.append(encode_frame(P.MsgType.MODEL_CHUNK, 0, seq, M.ModelChunk.build(
            dict(offset=off, data=model[off:off + CHUNK]))))
        seq += 1
    out.append(encode_frame(P.MsgType.MODEL_COMMIT, 0, seq, M.ModelCommit.build(dict(crc32=crc))))
    return out, seq + 1


def _hello(seq: int = 1) -> bytes:
    return encode_frame(P.MsgType.HELLO, 0, seq, M.Hello.build(dict(proto_min=1, proto_max=1, max_payload=4096)))


def _run(binary: Path, state: Path, frames: list[bytes], cut: int | None = None, seed: int = 1):
    env = dict(os.environ, PYTHONPATH=str(ROOT), HL_POWERCUT_SEED=str(seed),
               ASAN_OPTIONS="halt_on_error=1:detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    env.pop("HL_POWERCUT_AT", None)
    if cut is not None:
        env["HL_POWERCUT_AT"] = str(cut)
    proc = subprocess.run([str(binary), "--stdio", "--state-dir", str(state), "--backend", HELPER],
                          input=b"".join(frames), capture_output=True, timeout=120, env=env)
    err = proc.stderr.decode(errors="replace")
    assert "Sanitizer" not in err and "runtime error" not in err, err[-3000:]
    return proc.returncode, Deframer().feed(proc.stdout), err


def _copy_state(src: Path, dst: Path) -> None:
    """The state directory as another board's flash: a sparse copy (the store is mostly holes)."""
    subprocess.run(["cp", "-r", "--sparse=always", str(src), str(dst)], check=True)


def _storage_ops(stderr: str) -> int:
    line = [x for x in stderr.splitlines() if "storage erases+writes" in x][-1]
    return int(line.rsplit(",", 1)[1].split()[0])


def _check_board(binary: Path, state: Path, models: dict[str, bytes], x: np.ndarray) -> str:
    """Boot on `state`, ask MODEL_INFO and run the model on x: returns the name of the model running."""
    frames = [_hello(), encode_frame(P.MsgType.MODEL_INFO, 0, 2, b""),
              encode_frame(P.MsgType.INPUT, 0, 3, M.Input.build(dict(index=0, total=x.nbytes, offset=0,
                                                                      data=x.tobytes()))),
              encode_frame(P.MsgType.CAPTURE, 0, 4, M.Capture.build(dict(count=1, period_us=0, source="HOST",
                                                                        options=dict(return_input=False))))]
    rc, replies, err = _run(binary, state, frames)
    assert rc == 0, err[-2000:]
    info = M.ModelInfo.parse(next(f for f in replies if f.seq == 2).payload)
    assert info.loaded, "a committed model went missing after the power cut:\n" + err[-2000:]
    name = info.name
    assert name in models and info.crc32 == zlib.crc32(models[name]) and info.size == len(models[name])
    # the store holds it, whole, as the newest committed slot
    slots = committed_slots(state / "store.bin")
    newest = max(slots, key=lambda s: s["seq"])
    assert newest["name"] == name and newest["image"] == models[name]
    # and the board really runs it: the output is the reference interpreter's on the same input
    result = next(f for f in replies if f.seq == 4 and f.type == P.MsgType.RESULT)
    want = LiteRTEngine(models[name]).run([x])[0]
    payload = M.Result.parse(result.payload)
    got = np.frombuffer(bytes(payload.outputs[0].data), dtype=want.dtype)
    np.testing.assert_array_equal(got, want.ravel())
    return name


def test_power_cut_at_every_storage_write_of_a_commit(tmp_path, capsys):
    binary = build_host_port(sanitize=True)
    shape = (1, 16, 16, 3)
    models = {f"model-{k}": tiny_int8_model(shape, channels=8, seed=i) for i, k in enumerate("abc")}
    x = np.random.default_rng(7).integers(-128, 128, shape, dtype=np.int8)

    # commit a and b cleanly: the next upload goes into a's slot, the one a power cut can hurt
    base = tmp_path / "base"
    base.mkdir()
    frames, seq = _frames_upload(2, "model-a", models["model-a"])
    more, seq = _frames_upload(seq, "model-b", models["model-b"])
    rc, replies, err = _run(binary, base, [_hello()] + frames + more)
    assert rc == 0 and [f.type for f in replies].count(P.MsgType.MODEL_INFO) == 2, err[-2000:]
    assert sorted(s["name"] for s in committed_slots(base / "store.bin")) == ["model-a", "model-b"]

    # a clean upload of c counts the storage writes of one commit (boot writes nothing)
    upload_c, _ = _frames_upload(2, "model-c", models["model-c"])
    clean = tmp_path / "clean"
    _copy_state(base, clean)
    rc, replies, err = _run(binary, clean, [_hello()] + upload_c)
    assert rc == 0 and replies[-1].type == P.MsgType.MODEL_INFO, err[-2000:]
    points = _storage_ops(err)
    chunks = -(-len(models["model-c"]) // CHUNK)
    assert points == 1 + chunks + 2  # one erase, the chunks, header, commit word
    assert _check_board(binary, clean, models, x) == "model-c"

    # the last write is the commit word (8 bytes with padding): cut it once torn, once whole
    word_torn = next(seed for seed in range(1, 10**6) if 0 < tear_keep(seed, ALIGN) < 4)
    word_whole = next(seed for seed in range(1, 10**6) if tear_keep(seed, ALIGN) == ALIGN)
    trials = [(cut, cut * 7919) for cut in range(1, points)] + [(points, word_torn), (points, word_whole)]
    outcomes = []
    for cut, seed in trials:
        state = tmp_path / f"cut{cut}-{seed}"
        _copy_state(base, state)
        rc, _, err = _run(binary, state, [_hello()] + upload_c, cut=cut, seed=seed)
        assert rc == POWERCUT_EXIT and f"power cut at storage write {cut} " in err, err[-2000:]
        got = _check_board(binary, state, models, x)
        assert got in ("model-b", "model-c")
        if cut < points or seed == word_torn:
            assert got == "model-b"  # until the commit word is whole the old model is the one
        else:
            assert got == "model-c"  # the word landed whole: committed, even though no reply went out
        outcomes.append(got)
    with capsys.disabled():
        print(f"\nhost port model store: power cut at each of {points} storage writes of a commit "
              f"(1 erase, {chunks} chunks, header, commit word), {len(trials)} cuts: {outcomes.count('model-b')} "
              f"old model, {outcomes.count('model-c')} new model, 0 corrupt or missing")


def test_the_board_keeps_its_model_across_restarts(tmp_path):
    binary = build_host_port(sanitize=True)
    model = tiny_int8_model((1, 8, 8, 3), seed=3)
    frames, _ = _frames_upload(2, "kept", model)
    rc, replies, err = _run(binary, tmp_path, [_hello()] + frames)
    assert rc == 0 and replies[-1].type == P.MsgType.MODEL_INFO, err[-2000:]
    x = np.zeros((1, 8, 8, 3), np.int8)
    assert _check_board(binary, tmp_path, {"kept": model}, x) == "kept"
    # a damaged image is not restored: flip one byte of the committed image
    store = tmp_path / "store.bin"
    (slot,) = committed_slots(store)
    raw = bytearray(store.read_bytes())
    at = slot["slot"] * (len(raw) // 2) + IMAGE_OFFSET + len(model) // 2
    raw[at] ^= 0x40
    store.write_bytes(bytes(raw))
    rc, replies, err = _run(binary, tmp_path, [_hello(), encode_frame(P.MsgType.MODEL_INFO, 0, 2, b"")])
    assert rc == 0 and not M.ModelInfo.parse(replies[-1].payload).loaded
