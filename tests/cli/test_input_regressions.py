"""Regression tests for the input cases issue 11 found: each is refused at the edge with one line
naming the option or field and the fix, or handled correctly, never a traceback, hang or silent
wrong answer."""
import json
import re

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import hostlink
from hostlink.cli import INTERNAL_ERROR_EXIT, main
from hostlink.config import Timeouts
from hostlink.errors import ConfigError, HostlinkError, NothingFound


def _refused(args, *needles, exit_code=2):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == exit_code, r.output
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and len(lines) <= 2, r.stderr
    assert len(lines) == 1 or lines[1].startswith("  hint: "), r.stderr
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)
    for n in needles:
        assert n in r.stderr, f"{n!r} not in {r.stderr!r}"
    return r.stderr


# ---------------------------------------------------------------------------------------------- --timeout-scale
@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", "-inf", "1e309", "abc", ""])
def test_timeout_scale_must_be_finite_and_positive(value):
    text = _refused(["--timeout-scale", value, "--port", "loop://", "info"],
                    "--timeout-scale must be a finite number > 0", "hint: e.g. --timeout-scale 2")
    assert "loop://" not in text  # refused before any port is opened (nan used to hang there)


def test_timeout_scale_scales_every_derived_deadline():
    from hostlink.client import Device
    from hostlink.links.pipe import pipe_pair

    base, scaled = Timeouts(), Timeouts().scaled(3.0)
    assert scaled.hello_s == 3 * base.hello_s and scaled.scale == 3.0  # scale: the default upload budget's factor
    a, b = Device(pipe_pair()[0], timeouts=base), Device(pipe_pair()[0], timeouts=scaled)
    for work_s, wire in ((0.0, 0), (0.25, 0), (0.0, 100_000), (1.5, 4096)):
        assert b._deadline_s(work_s, wire) == pytest.approx(3 * a._deadline_s(work_s, wire))
    assert (scaled.attempts, scaled.upload_window, scaled.commit_s_per_mb) == \
        (base.attempts, base.upload_window, base.commit_s_per_mb)  # counts and work estimates are not deadlines


def test_timeout_scale_reaches_the_client(mocker):
    seen = {}

    def fake_connect(port, **kw):
        seen.update(kw)
        raise ConfigError("stop here")

    mocker.patch("hostlink.cli.common.connect", fake_connect)
    CliRunner().invoke(main, ["--timeout-scale", "4", "info"])
    assert seen["timeouts"] == Timeouts().scaled(4)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 0.0])
def test_timeouts_scaled_refuses_nonsense(value):
    with pytest.raises(ConfigError, match="finite number > 0"):
        Timeouts().scaled(value)


# ---------------------------------------------------------------------------------------------- ports
@pytest.mark.parametrize("port, needle, hint", [
    ("", "the port address is empty", "socket://HOST:PORT"),
    ("tcp://127.0.0.1", "names no port", "tcp://127.0.0.1:5555"),
    ("tcp://127.0.0.1:99999", "not a number from 1 to 65535", "tcp://127.0.0.1:5555"),
    ("socket://:5555", "names no host", "socket://127.0.0.1:5555"),
    ("emu:imx500?realtime=banana", "realtime='banana'", "realtime=1"),
    ("emu:imx500?colour=1", "unknown emulator option 'colour'", "engine=litert"),
    ("emu:imx500?engine=onnx", "engine='onnx'", "tflm"),
    ("emu:esp32", "unknown board 'esp32'", "imx500"),
    ("usb://zz:1", "bad USB address", "usb://18d1:9308"),
    ("ftp://x", "unknown kind of port 'ftp://'", "emu:BOARD"),
    ("\x1b[2J", "control characters", "emu:BOARD"),
])
def test_bad_ports_are_named_before_anything_opens(port, needle, hint):
    _refused(["--port", port, "info"], "--port: ", needle, hint)
    with pytest.raises(ConfigError, match=re.escape(needle)):
        hostlink.connect(port)


def test_realtime_flag_values_are_read_not_guessed():
    from hostlink.emulator.link import parse_emu_url

    assert parse_emu_url("emu:imx500?realtime=0")[1] == {"realtime": False}
    assert parse_emu_url("emu:imx500?realtime=yes")[1] == {"realtime": True}


@pytest.mark.parametrize("value, needle", [
    ("999999", "port from 0 to 65535"), ("127.0.0.1:70000", "port from 0 to 65535"), ("127.0.0.1", "HOST:PORT"),
    ("[::1]:5555", "IPv4 address or a host name"), ("127.0.0.1:-1", "HOST:PORT"),
])
def test_emulate_tcp_address(value, needle):
    _refused(["emulate", "--tcp", value], "--tcp must be HOST:PORT", needle, "e.g. --tcp 127.0.0.1:5555")


# ---------------------------------------------------------------------------------------------- numbers and sizes
@pytest.mark.parametrize("args, needle", [
    (["gaze", "--screen", "0x0", "--headless"], "--screen must be WIDTHxHEIGHT"),
    (["gaze", "--screen", "nanx20", "--headless"], "--screen must be WIDTHxHEIGHT"),
    (["gaze", "--screen", "30x19+inf", "--headless"], "--screen must be WIDTHxHEIGHT"),
    (["gaze", "--size", "0x480", "--headless"], "--size must be WIDTHxHEIGHT"),
    (["datasets", "make-synthetic", "--task", "gaze", "--out", "o", "--size", "0"], "--size must be a whole number"),
    (["datasets", "make-synthetic", "--task", "gaze", "--out", "o", "--seed", "-1"], "--seed must be a whole number"),
    (["--port", "emu:imx500", "capture", "-n", "0"], "--count must be a whole number from 1"),
    (["--port", "emu:imx500", "capture", "--period-ms", "nan"], "--period-ms must be a finite number"),
    (["segment", "x.png", "--threshold", "1.5"], "--threshold must be a finite number from 0 to 1"),
    (["session", "run", "--frames", "true"], "--frames must be a whole number"),
    (["session", "run", "--name", "a b"], "--name must be 1 to 64 letters"),
    (["session", "run", "--monitor", "emualted://ppk2"], "--monitor must be a monitor address"),
    (["eval", "--data", ".", "--split", "tset"], "--split must be one of train, val, test"),
])
def test_out_of_range_options(args, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _refused(args, needle, "hint: e.g. ")
    assert not (tmp_path / "o").exists()


def test_run_warmup_is_checked_before_the_upload(tiny_model_file, mocker):
    upload = mocker.patch("hostlink.client.Device.upload")
    _refused(["--port", "emu:imx500", "run", str(tiny_model_file), "--warmup", "-1"],
             "--warmup must be a whole number from 0", "hint: e.g. --warmup 2")
    upload.assert_not_called()


def test_usage_mistakes_are_one_line_with_a_hint():
    _refused(["--nope"], "No such option", "hint: see hostlink --help")
    _refused(["capture", "--nope"], "No such option", "hint: see hostlink capture --help")
    _refused(["nosuch"], "No such command", "hint: see hostlink --help")
    _refused(["datasets", "make-synthetic"], "Missing option '--task'")


def test_a_bug_is_one_line_and_exit_70(mocker):
    mocker.patch("hostlink.cli.device.open_device", side_effect=ZeroDivisionError("boom"))
    _refused(["info"], "internal error in hostlink: ZeroDivisionError: boom", "HOSTLINK_DEBUG=1",
             exit_code=INTERNAL_ERROR_EXIT)


# ---------------------------------------------------------------------------------------------- input tensors
@pytest.fixture
def dev(tiny_model):
    with hostlink.connect("emu:imx500") as d:
        d.upload(tiny_model, name="tiny")
        yield d


def test_nchw_array_of_the_right_size_is_refused(dev):
    spec = dev.model.inputs[0]  # (1, 8, 8, 3) NHWC
    nchw = np.zeros((1, 3, 8, 8), np.int8)
    with pytest.raises(ConfigError, match=r"shape \(1, 3, 8, 8\), the model expects \(1, 8, 8, 3\)") as e:
        dev.capture(input=nchw)
    assert "transpose" in e.value.hint and spec.shape == (1, 8, 8, 3)


@pytest.mark.parametrize("arr, needle", [
    (np.full((1, 8, 8, 3), 200, np.uint8), "span 200..200 but the model's int8 input holds -128..127"),
    (np.full((1, 8, 8, 3), 1000, np.int32), "span 1000..1000"),
    (np.full((1, 8, 8, 3), -129, np.int64), "span -129..-129"),
    (np.full((1, 8, 8, 3), np.nan, np.float32), "NaN or infinite"),
    (np.full((1, 8, 8, 3), np.inf, np.float64), "NaN or infinite"),
    (np.full((1, 8, 8, 3), 5.0, np.float32), "outside what the model's int8 input represents"),
    (np.zeros((1, 8, 8, 3), np.bool_), "dtype bool"),
    (np.zeros((1, 8, 8, 3), np.complex64), "dtype complex64"),
])
def test_input_values_are_never_wrapped_or_taken_as_nan(dev, arr, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)) as e:
        dev.capture(input=arr)
    assert e.value.hint


def test_out_of_range_integers_say_how_to_quantize(dev):
    with pytest.raises(ConfigError) as e:
        dev.capture(input=np.full((1, 8, 8, 3), 200, np.uint8))
    assert "scale 0.0078125" in e.value.hint and "zero point 0" in e.value.hint and "round(x / scale)" in e.value.hint


def test_accepted_inputs_arrive_as_the_rules_say(dev):
    spec = dev.model.inputs[0]
    x = np.random.default_rng(0).uniform(-1, 0.99, spec.shape).astype(np.float32)
    (a,) = dev.capture(input=x)  # float: quantized with the tensor's scale and zero point
    (b,) = dev.capture(input=np.round(x / spec.scale).astype(np.int8))
    (c,) = dev.capture(input=np.round(x / spec.scale).astype(np.int32))  # ints in range: any integer dtype
    assert np.array_equal(a.outputs[0], b.outputs[0]) and np.array_equal(b.outputs[0], c.outputs[0])


def test_wrong_python_types_are_type_errors(dev):
    for kwargs in (dict(count="2"), dict(count=True), dict(count=1.0), dict(period_us=0.5), dict(input="x")):
        with pytest.raises(TypeError):
            dev.capture(**kwargs)
    with pytest.raises(TypeError):
        dev.upload(5)
    with pytest.raises(TypeError):
        hostlink.connect(5)


def test_capture_counts_beyond_the_wire_are_refused(dev):
    with pytest.raises(ConfigError, match="at most 4294967295"):
        dev.capture(count=2 ** 32)


def test_long_unicode_model_names_fit_the_wire(dev, tiny_model):
    m = dev.upload(tiny_model, name="€" * 255)
    assert m.name == "€" * 85  # 255 bytes of UTF-8, cut at a character boundary


# ---------------------------------------------------------------------------------------------- names from the board
def test_info_prints_board_names_with_escapes_made_visible(serve_pty, tiny_model):
    served = serve_pty("imx500")
    with hostlink.connect(served.url) as d:
        d.upload(tiny_model, name="\x1b[31mred\x07 [bold]x[/bold]\u202e")
    r = CliRunner().invoke(main, ["--port", served.url, "info"])
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.output and "\x07" not in r.output and "\u202e" not in r.output
    assert "\\x1b[31mred\\x07 [bold]x[/bold]\\u202e" in r.output


# ---------------------------------------------------------------------------------------------- gaze
@pytest.fixture
def faceless_clip(tmp_path):
    path = tmp_path / "wall.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for i in range(3):
        w.write(np.full((120, 160, 3), 90 + i, np.uint8))
    w.release()
    return path


def test_gaze_snapshot_without_a_face_says_so_and_fails(faceless_clip, tmp_path):
    snap = tmp_path / "snap.png"
    r = CliRunner().invoke(main, ["gaze", "--board", "emu:imx500", "--video", str(faceless_clip), "--snapshot",
                                  str(snap), "--headless", "--no-profile", "--json"])
    assert r.exit_code == NothingFound.exit_code == 1, r.output
    assert "no frame had a face, so --snapshot" in r.stderr and "was not written (3 frames read)" in r.stderr
    assert not snap.exists()
    assert json.loads(r.stdout)["snapshot"] is None  # the run's summary is still printed


def test_an_incomplete_calibration_is_neither_saved_nor_applied(tmp_path, faceless_clip):
    from hostlink.demos.calibration import MIN_POINTS, Calibration, Screen

    target = Screen().nine_points()
    with pytest.raises(ConfigError, match=f"needs at least {MIN_POINTS} of the 9"):
        Calibration.fit(target[:3] * 0.9, target[:3], Screen())
    assert Calibration.fit(target[:MIN_POINTS], target[:MIN_POINTS], Screen()).points == MIN_POINTS
    partial = Calibration(points=3)
    with pytest.raises(ConfigError, match="not saved"):
        partial.save(tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()
    (tmp_path / "old.json").write_text(json.dumps(dict(version=1, matrix=[[1, 0, 0], [0, 1, 0]], points=3)))
    with pytest.raises(ConfigError, match="fitted on 3 dots"):
        Calibration.load(tmp_path / "old.json")
    r = CliRunner().invoke(main, ["gaze", "--board", "emu:imx500", "--profile", str(tmp_path / "old.json"), "--video",
                                  str(faceless_clip), "--headless"])
    assert r.exit_code == 2 and "fitted on 3 dots" in r.stderr and "recalibrate" in r.stderr


def test_calibration_run_with_too_few_fixations_is_refused():
    from hostlink.demos.calibration import CalibrationSchedule, Screen
    from hostlink.demos.gaze import run_loop

    class OneDot:
        model_sha256, frames, calibration, screen, metered, lanes = "", 0, None, Screen(), False, []

        def notices(self):
            return []

    sched = CalibrationSchedule(Screen().nine_points(), settle=1, collect=3)
    for frame in range(sched.frames):  # the face is seen only while three of the nine dots show
        if sched.at(frame)[0] < 3:
            sched.add(frame, (0.0, 0.0))
    with pytest.raises(HostlinkError, match="only 3 of 9 dots; it needs at least 6, so nothing was saved"):
        run_loop(OneDot(), _Empty(), schedule=sched)


class _Empty:
    def read(self):
        return None


def test_doctor_problems_end_in_one_error_line_and_names_from_usb_are_escaped(mocker):
    from hostlink.boards.doctor import Check

    mocker.patch("hostlink.boards.doctor.run_checks", return_value=(
        [Check("libusb", "fail", "not found", "pip install libusb-package"),
         Check("port", "warn", "serial \x1b[2Jhidden", None)], []))
    r = CliRunner().invoke(main, ["doctor"])
    assert r.exit_code == 1 and "\x1b" not in r.output and "serial \\x1b[2Jhidden" in r.stdout
    assert r.stderr.splitlines() == ["error: 1 check(s) failed: libusb", "  hint: fix them as shown above"]
