"""MLPerf Tiny devices under test: the ASCII protocol, the emulated reference DUT, and the whole
path over a pseudo-terminal as the MLPerf Tiny runner and `hostlink` see it."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import serial
from click.testing import CliRunner

import hostlink
from hostlink.boards import mlperftiny as board
from hostlink.boards import registry
from hostlink.cli import main
from hostlink.emulator import mlperftiny as emu
from hostlink.emulator.inference import LiteRTEngine
from hostlink.errors import ConfigError, DeviceError
from hostlink.protocols import mlperftiny as P


def _lines(chunks: list[bytes]) -> list[str]:
    return [line.rstrip("\r") for line in b"".join(chunks).decode().split("\n") if line]


def _board(**kw):
    out: list[bytes] = []
    dut = emu.MlperfTinyEmulator(out.append, **kw)
    return dut, out


# ------------------------------------------------------------------ protocol declarations
def test_commands_are_words_ended_by_percent_and_never_longer_than_the_firmware_keeps():
    assert P.command("infer", 1, 0) == b"infer 1 0%"
    assert P.parse_command(b"db load 3072") == ["db", "load", "3072"]
    with pytest.raises(ValueError):
        P.command("db", "ab" * 60)
    with pytest.raises(ValueError):
        P.command("name%")
    cmds = P.db_commands(bytes(range(60)))
    assert cmds[0] == b"db load 60%" and all(len(c) <= P.MAX_COMMAND + 1 for c in cmds)
    assert b"".join(bytes.fromhex(c[3:-1].decode()) for c in cmds[1:]) == bytes(range(60))


@pytest.mark.parametrize("version,values", [("ic01", [-128, -1, 0, 127]), ("vww01", [-5, 5]),
                                            ("kws01", [-128, 127]), ("ad01", [1.5, -0.25])])
def test_input_layouts_round_trip_as_the_reference_th_load_tensor_reads_them(version, values):
    data = P.encode_input(version, values)
    assert P.decode_input(version, data) == values
    if version == "ic01":
        assert data == bytes([0, 127, 128, 255])  # int8 + 128, as the reference subtracts 128


def test_reply_lines_parse_as_the_reference_runner_reads_them():
    assert P.parse_name("m-name-dut-[unspecified]") == ("dut", "unspecified")
    assert P.parse_profile("m-model-[ic01]") == ("model", "ic01")
    assert P.parse_lap_us("m-lap-us-1234") == 1234
    assert P.parse_results(P.format_results([0.5, 0.25])) == [0.5, 0.25]
    assert P.format_results([0.5, 0.25]) == "m-results-[0.500,0.250]"
    assert P.parse_error("e-[Unknown command: x]") == "Unknown command: x"


# ------------------------------------------------------------------ the emulated firmware
def test_boot_banner_then_every_command_ends_with_ready():
    dut, out = _board()
    assert _lines(out) == ["m-timestamp-mode-performance", "m-lap-us-0", "m-init-done", "m-ready"]
    out.clear()
    dut.feed(b"name%bogus%pro")
    dut.feed(b"file%")
    assert _lines(out) == [f"m-name-dut-[{emu.VENDOR}]", "m-ready", "e-[Unknown command: bogus]", "m-ready",
                           f"m-profile-[{P.FW_VERSION}]", "m-model-[ic01]", "m-ready"]


def test_db_and_infer_errors_are_the_firmwares_own_messages():
    dut, out = _board()
    out.clear()
    for cmd in (b"db%", b"db load%", b"db load 0%", b"db load 999999%", b"db abc%", b"db zz%", b"infer 0%",
                b"infer 1 -1%"):
        dut.feed(cmd)
    errors = [line for line in _lines(out) if line != "m-ready"]
    assert errors == ["e-[Command 'db' requires a subcommand]", "e-[Command 'db load' requires the # of bytes]",
                      "e-[Command 'db load' must be >0 bytes]",
                      f"Supplied buffer size 999999 exceeds maximum of {P.MAX_DB_INPUT_SIZE}",
                      "e-[Insufficent number of hex digits]", "e-[Invalid hex digit 'zz']",
                      "e-[Inference iterations must be >0]", "e-[Inference warmup must be >=0]"]


def test_infer_runs_the_reference_model_and_laps_its_modelled_time():
    dut, out = _board()
    engine = LiteRTEngine(emu.model_bytes("ic01"))
    spec = engine.inputs[0]
    x = np.random.default_rng(1).integers(-128, 128, size=spec.shape).astype(np.int8)
    for raw in P.db_commands(P.encode_input("ic01", x.ravel().tolist())):
        dut.feed(raw)
    assert "m-load-done" in _lines(out)
    out.clear()
    dut.feed(b"infer 3 1%")
    lines = _lines(out)
    assert lines[:3] == ["m-warmup-start-1", "m-warmup-done", "m-infer-start-3"]
    laps = [P.parse_lap_us(line) for line in lines if P.parse_lap_us(line) is not None]
    assert laps[1] - laps[0] == pytest.approx(3 * emu.inference_us("ic01"), abs=1)
    want = engine.outputs[0].dequantize(engine.run([x])[0]).ravel()
    assert lines[-3:-1] == ["m-infer-done", lines[-2]] and lines[-1] == "m-ready"
    assert P.parse_results(lines[-2]) == pytest.approx(want.tolist(), abs=5e-4)


def test_modelled_time_is_near_the_published_reference_latency():
    # v0.5 reference NUCLEO-L4R5ZI, ic: 704.2 ms (measurements.csv); the cost model's own LOO error applies
    assert emu.inference_us("ic01") / 1000 == pytest.approx(704.2, rel=0.25)
    assert emu.profile().busy_mw == pytest.approx(29207 / 704.2254, rel=0.25)


def test_energy_mode_pulses_the_timestamp_pin_instead_of_printing_laps():
    dut, out = _board(mode="energy", model="kws01")
    assert _lines(out)[0] == "m-timestamp-mode-energy"
    spec = dut.engine.inputs[0]
    for raw in P.db_commands(P.encode_input("kws01", np.zeros(spec.shape, np.int8).ravel().tolist())):
        dut.feed(raw)
    out.clear()
    dut.feed(b"infer 2 0%")
    assert not any(line.startswith("m-lap-us") for line in _lines(out))
    pulses = [s for s in dut.timeline if s.stage == emu.TIMESTAMP_CODE]
    assert len(pulses) == 3  # one at boot, two around the inferences
    assert pulses[2].start_us - pulses[1].end_us == pytest.approx(2 * emu.inference_us("kws01"), abs=1)
    assert pulses[1].end_us - pulses[1].start_us >= P.TIMESTAMP_PULSE_CYCLES / 120e6 * 1e6 - 1e-6


def test_an_emulated_monitor_finds_the_inference_between_the_timestamp_pulses():
    from hostlink.power import open_monitor

    dev = hostlink.connect("emu:mlperftiny?model=kws01&mode=energy", board="mlperftiny")
    try:
        assert dev.info.stages == () and "TIMESTAMP_ENERGY" in dev.info.capabilities
        monitor = open_monitor("emulated://ppk2", board=dev.emulated_board)
        with monitor:
            monitor.configure(supply_v=dev.emulated_board.profile.supply_v)
            monitor.start()
            dev.capture(input=np.zeros(dev.model.inputs[0].shape, np.int8))
            blocks = monitor.read_available()
            monitor.stop()
        digital = np.concatenate([b.samples["digital"] for b in blocks]) & 1
        edges = np.flatnonzero(np.diff(digital.astype(np.int8)) == 1)  # the pin going active: pulse starts
        assert len(edges) == 2
        gap_s = (edges[1] - edges[0]) / monitor.info.sample_rate_hz
        assert gap_s == pytest.approx(emu.inference_us("kws01") / 1e6 + P.TIMESTAMP_PULSE_CYCLES / 120e6, rel=0.01)
    finally:
        dev.close()


# ------------------------------------------------------------------ the host side
def test_device_info_capture_and_refused_upload_in_process():
    dev = hostlink.connect("emu:mlperftiny", board="mlperftiny")
    try:
        assert dev.info.board == "mlperftiny" and dev.model.name == "ic01" and dev.model.inputs[0].shape == (1, 32, 32, 3)
        with pytest.raises(ConfigError, match="compiled into its firmware"):
            dev.upload(b"TFL3")
        with pytest.raises(ConfigError, match="no sensor"):
            dev.capture()
        with pytest.raises(ConfigError):
            dev.capture(input=np.zeros((1, 8, 8, 3), np.int8))  # wrong shape: refused before any db command
        r = dev.capture(count=2, input=np.zeros((1, 32, 32, 3), np.float32))
        assert len(r) == 2 and r[0].stages["inference"].duration_ms == pytest.approx(
            emu.inference_us("ic01") / 1000, abs=1e-3)
        assert r[0].outputs[0].shape == (10,) and abs(float(r[0].outputs[0].sum()) - 1.0) < 0.02
    finally:
        dev.close()


def test_emulator_address_options_are_checked():
    with pytest.raises(ConfigError, match="model='x'"):
        hostlink.connect("emu:mlperftiny?model=x")
    with pytest.raises(ConfigError, match="unknown emulator option"):
        hostlink.connect("emu:mlperftiny?camera=1")
    assert registry.get("mlperftiny").open_device is board.open_device


@pytest.fixture
def pty_dut():
    proc = subprocess.Popen([sys.executable, "-m", "hostlink", "emulate", "--board", "mlperftiny", "--pty"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/"), proc.stderr.read()
        yield path
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _runner_command(port, text: str, timeout=30.0) -> list[str]:
    """What mlcommons/tiny's SerialDevice.send_command does: write TEXT%, read lines to m-ready."""
    port.write(text.encode() + b"%")
    lines, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        raw = port.readline().decode().strip("\r\n\0")
        if raw == "m-ready":
            return lines
        if raw:
            lines.append(raw)
    raise AssertionError(f"no m-ready after {text!r}: {lines}")


def test_end_to_end_over_a_pty_as_the_mlperf_runner_and_hostlink_drive_it(pty_dut, tmp_path):
    with serial.Serial(pty_dut, 115200, timeout=0.2) as port:
        time.sleep(0.2)
        port.reset_input_buffer()  # the boot banner
        assert any(re.match(r"^m-name-dut-\[([^]]+)]$", line) for line in _runner_command(port, "name"))
        assert "m-model-[ic01]" in _runner_command(port, "profile")
        data = bytes(32 * 32 * 3)
        _runner_command(port, f"db load {len(data)}")
        for i in range(0, len(data), 26):
            result = _runner_command(port, "db " + data[i:i + 26].hex())
        assert result == ["m-load-done"]
        lines = _runner_command(port, "infer 1 0")
        laps = [int(m.group(1)) for m in (re.match(r"^m-lap-us-([0-9]+)$", line) for line in lines) if m]
        assert len(laps) == 2 and laps[1] > laps[0]
        assert any(re.match(r"^m-results-\[([^]]+)\]$", line) for line in lines)

    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 32, 32, 3), np.int8))
    cli = CliRunner()
    info = cli.invoke(main, ["--board", "mlperftiny", "--port", pty_dut, "info", "--json"])
    assert info.exit_code == 0, info.output
    assert json.loads(info.output)["model"]["name"] == "ic01"
    cap = cli.invoke(main, ["--board", "mlperftiny", "--port", pty_dut, "capture", "--input", str(x), "--json"])
    assert cap.exit_code == 0, cap.output
    frame = json.loads(cap.output)["results"][0]
    assert frame["stages"]["inference"]["ms"] == pytest.approx(emu.inference_us("ic01") / 1000, abs=1e-3)
    up = cli.invoke(main, ["--board", "mlperftiny", "--port", pty_dut, "upload", str(x)])
    assert up.exit_code != 0 and "compiled into its firmware" in up.output
    assert os.path.exists(pty_dut)


def test_a_board_that_is_not_a_dut_is_named_with_a_timeout(monkeypatch):
    from hostlink.config import Timeouts

    with pytest.raises(hostlink.errors.LinkTimeout, match="no MLPerf Tiny DUT answered"):
        hostlink.connect("loop://", board="mlperftiny", timeouts=Timeouts(hello_s=0.2))
    assert issubclass(DeviceError, hostlink.errors.HostlinkError)


def test_energy_run_integrates_between_the_timestamp_pulses():
    from hostlink.power import open_monitor

    dev = hostlink.connect("emu:mlperftiny?model=kws01&mode=energy", board="mlperftiny")
    try:
        dut = dev.emulated_board
        with open_monitor("emulated://ppk2", board=dut) as monitor:
            monitor.configure(supply_v=dut.profile.supply_v)
            run = board.energy_run(dev, monitor, np.zeros(dev.model.inputs[0].shape, np.int8), inferences=3)
        pulse_us = P.TIMESTAMP_PULSE_CYCLES / 120e6 * 1e6
        window_us = pulse_us + 3 * emu.inference_us("kws01")  # pulse start to pulse start
        assert run.window_s * 1e6 == pytest.approx(window_us, abs=20)
        assert run.energy_uj == pytest.approx(dut.profile.busy_mw * window_us / 1000, rel=0.02)
        assert run.energy_uj_per_inference == pytest.approx(run.energy_uj / 3)
        assert len(run.results) == 12  # kws01: twelve classes
    finally:
        dev.close()


def test_energy_run_needs_energy_firmware():
    from hostlink.power import open_monitor

    dev = hostlink.connect("emu:mlperftiny", board="mlperftiny")
    try:
        with open_monitor("emulated://ppk2", board=dev.emulated_board) as monitor:
            with pytest.raises(ConfigError, match="performance-mode firmware"):
                board.energy_run(dev, monitor, np.zeros(dev.model.inputs[0].shape, np.int8))
    finally:
        dev.close()
