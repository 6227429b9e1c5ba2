"""The C core's Linux port end to end: markers, the on-disk model store, stdio mode."""
import os
import shutil
import subprocess
import sys
import zlib

import numpy as np
import pytest

import hostlink
from hostlink import protocols as P
from hostlink.emulator.firmware import build_host_port, start_host_port
from hostlink.errors import ModelRefused
from hostlink.framing import Deframer, encode_frame
from hostlink.protocols import messages as M
from store_file import committed_slots

pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which("cc") is None,
                                reason="needs make and a C compiler")


def test_markers_follow_every_stage_of_every_frame(tmp_path, tiny_model):
    markers = tmp_path / "markers.txt"
    with start_host_port("coralmicro", markers=markers) as fw:
        with hostlink.connect(fw.url) as dev:
            assert dev.info.board == "host" and "MARKERS" in dev.info.capabilities
            assert dev.info.stages == ("capture", "preprocess", "inference", "transfer")
            dev.upload(tiny_model, name="tiny")
            results = dev.capture(count=2)
    lines = [tuple(map(int, line.split())) for line in markers.read_text().splitlines()]
    stages = [s for _, s in lines]
    assert stages[0] == P.Stage.IDLE  # driven low at boot
    assert stages[1:] == [1, 2, 3, 4, 0] * 2
    times = [t for t, _ in lines]
    assert times == sorted(times)
    # the marker edges follow the RESULT timestamps (same clock) by the pin-write latency only
    for r, frame_marks in zip(results, (lines[1:6], lines[6:11])):
        assert 0 <= frame_marks[0][0] - r.stages["capture"].start_us < 2000
        assert 0 <= frame_marks[4][0] - r.stages["transfer"].end_us < 2000


def test_commit_lands_in_the_store_and_a_refused_model_leaves_it(tmp_path, tiny_model, float_model):
    binary = build_host_port()
    state = tmp_path / "state"
    state.mkdir()
    helper = f"{sys.executable} -m hostlink.emulator.hostport --board coralmicro"
    proc = subprocess.Popen([str(binary), "--pty", "--state-dir", str(state), "--backend", helper],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(binary.parents[3])))
    try:
        url = proc.stdout.readline().strip()
        with hostlink.connect(url) as dev:
            dev.upload(tiny_model, name="tiny")
            assert [(s["name"], s["image"]) for s in committed_slots(state / "store.bin")] == [("tiny", tiny_model)]
            with pytest.raises(ModelRefused):
                dev.upload(float_model, name="float")
            # refused at admission: nothing was committed, the running model's slot is untouched
            assert [(s["name"], s["image"]) for s in committed_slots(state / "store.bin")] == [("tiny", tiny_model)]
            assert dev.model_info().name == "tiny"
    finally:
        proc.terminate()
        proc.wait(10)
    assert (state / "store.bin").is_file()  # a --state-dir outlives the process: the board keeps its model


def test_stdio_mode_serves_the_protocol_on_stdin_stdout(tiny_model):
    binary = build_host_port()
    helper = f"{sys.executable} -m hostlink.emulator.hostport --board spresense"
    frames = [encode_frame(P.MsgType.HELLO, 0, 1, M.Hello.build(dict(proto_min=1, proto_max=1, max_payload=4096))),
              encode_frame(P.MsgType.MODEL_INFO, 0, 2, b""),
              encode_frame(P.MsgType.MODEL_COMMIT, 0, 3, M.ModelCommit.build(dict(crc32=zlib.crc32(b"x"))))]
    proc = subprocess.run([str(binary), "--stdio", "--backend", helper], input=b"".join(frames),
                          capture_output=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(binary.parents[3])))
    assert proc.returncode == 0, proc.stderr.decode()
    replies = Deframer().feed(proc.stdout)
    assert [(f.type, f.seq) for f in replies] == [(P.MsgType.DEVICE_INFO, 1), (P.MsgType.MODEL_INFO, 2),
                                                 (P.MsgType.ERROR, 3)]
    info = M.DeviceInfo.parse(replies[0].payload)
    assert "Spresense" in info.board_name and info.memory[0].name == "main_core_sram"
    assert int(M.Error.parse(replies[2].payload).code) == P.ErrorCode.NO_UPLOAD


def test_host_input_reaches_the_real_model(tiny_model):
    x = (np.arange(192) % 50 - 25).astype(np.int8).reshape(1, 8, 8, 3)
    with start_host_port("coralmicro") as fw, hostlink.connect(fw.url) as dev:
        dev.upload(tiny_model, name="tiny")
        got = dev.capture(input=x)[0].outputs[0]
    with hostlink.connect("emu:coralmicro") as ref:
        ref.upload(tiny_model, name="tiny")
        want = ref.capture(input=x)[0].outputs[0]
    assert got.tolist() == want.tolist()
