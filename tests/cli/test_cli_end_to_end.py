"""End to end: `hostlink emulate --pty` in its own process, then the CLI on that /dev/pts/N, as
with a real board on a serial port."""
import json
import os
import signal
import subprocess
import sys
import zlib

import pytest
from click.testing import CliRunner

import hostlink
from hostlink.cli import main

@pytest.fixture
def emulate_process():
    """Start `python -m hostlink emulate ...`; returns a function giving the printed address."""
    procs = []

    def start(*args):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        p = subprocess.Popen([sys.executable, "-m", "hostlink", "emulate", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        procs.append(p)
        address = p.stdout.readline().strip()
        assert address, p.stderr.read()
        return address

    yield start
    for p in procs:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        assert p.returncode == 0, p.stderr.read()


def _cli(*args):
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def test_emulate_pty_then_info_upload_run(emulate_process, tiny_model_file, tiny_model):
    path = emulate_process("--board", "coralmicro", "--pty")
    assert path.startswith("/dev/pts/")
    # a separate process, exactly as a user would type it
    r = subprocess.run([sys.executable, "-m", "hostlink", "--port", path, "info", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["device"]["board"] == "coralmicro" and info["model"]["loaded"] is False

    out = _cli("--port", path, "upload", str(tiny_model_file))
    assert "active on coralmicro" in out
    run = json.loads(_cli("--port", path, "run", str(tiny_model_file), "--frames", "5", "--json"))
    assert run["board"] == "coralmicro" and run["frames"] == 5
    assert set(run["stages"]) == {"capture", "preprocess", "inference", "transfer"}
    for v in run["stages"].values():
        assert set(v) == {"median_ms", "min_ms", "max_ms"} and v["min_ms"] <= v["median_ms"] <= v["max_ms"]
    assert run["total_ms"] == pytest.approx(sum(v["median_ms"] for v in run["stages"].values()), rel=1e-6)
    # the board process kept the model between connections
    with hostlink.connect(path) as dev:
        assert dev.model_info().crc32 == zlib.crc32(tiny_model)


def test_emulate_tcp_then_capture(emulate_process, tiny_model_file):
    address = emulate_process("--board", "imx500", "--tcp", "127.0.0.1:0")
    assert address.startswith("socket://127.0.0.1:")
    _cli("--port", address, "upload", str(tiny_model_file))
    cap = json.loads(_cli("--port", address, "capture", "--count", "3", "--json"))
    assert cap["board"] == "imx500" and [r["frame"] for r in cap["results"]] == [0, 1, 2]
    assert list(cap["results"][0]["stages"]) == ["capture", "inference", "transfer"]
    assert len(cap["results"][0]["outputs"][0]["values"]) == 4


def test_emulate_needs_exactly_one_transport():
    r = CliRunner().invoke(main, ["emulate", "--board", "imx500"])
    assert r.exit_code != 0 and "exactly one of --pty or --tcp" in r.output


def test_info_and_capture_text_output(serve_pty, tiny_model_file):
    served = serve_pty("imx500")
    out = _cli("--port", served.url, "info")
    assert "IMX500" in out and "model: none loaded" in out and "protocol v1" in out
    _cli("--port", served.url, "upload", str(tiny_model_file))
    out = _cli("--port", served.url, "capture", "-n", "2")
    assert out.count("frame ") == 2 and "inference" in out


def test_trace_prints_every_frame(serve_pty):
    served = serve_pty("imx500")
    r = CliRunner().invoke(main, ["--trace", "--port", served.url, "info"])
    assert r.exit_code == 0
    assert "tx HELLO" in r.output and "rx DEVICE_INFO" in r.output and "rx MODEL_INFO" in r.output


def test_boards_lists_the_emulators():
    data = json.loads(_cli("boards", "--json"))
    assert [e["port"] for e in data["emulators"]] == ["emu:imx500", "emu:coralmicro", "emu:spresense", "emu:mlperftiny"]


def test_demo_json_has_the_three_boards():
    data = json.loads(_cli("demo", "--frames", "3", "--json"))
    assert [d["board"] for d in data] == ["imx500", "coralmicro", "spresense"]
    imx = data[0]["stages"]
    assert imx["capture"]["median_ms"] == pytest.approx(17.9, abs=0.01)
    assert imx["inference"]["median_ms"] == pytest.approx(0.86, abs=0.01)
    assert imx["transfer"]["median_ms"] == pytest.approx(0.24, abs=0.01)
    assert data[0]["total_ms"] == pytest.approx(19.0, abs=0.05)
