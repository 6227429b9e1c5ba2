"""Every error a user can meet prints a readable message (never a traceback) and exits non-zero."""
import errno
import zipfile

import pytest
import serial
from click.testing import CliRunner

from hostlink.bundled import bundled_model
from hostlink.cli import main
from hostlink.errors import ConfigError, DeviceError, LinkError, ProtocolError


def _fails(args, exit_code, *needles):
    r = CliRunner().invoke(main, args)
    text = r.output
    assert r.exit_code == exit_code, text
    assert "Traceback" not in text and not isinstance(r.exception, (KeyError, AttributeError, TypeError, ValueError))
    assert text.startswith("error: "), text
    for n in needles:
        assert n in text, f"{n!r} not in {text!r}"
    return text


def test_port_missing():
    _fails(["--port", "/dev/ttyHOSTLINK_NOPE", "info"], LinkError.exit_code, "port /dev/ttyHOSTLINK_NOPE does not exist",
           "hint:", "hostlink boards")


def test_permission_denied(mocker):
    mocker.patch("serial.serial_for_url", side_effect=serial.SerialException(
        errno.EACCES, "could not open port /dev/ttyACM0: [Errno 13] Permission denied: '/dev/ttyACM0'"))
    _fails(["--port", "/dev/ttyACM0", "info"], LinkError.exit_code, "permission denied on /dev/ttyACM0", "dialout", "udev")


def test_busy_mocked(mocker):
    mocker.patch("serial.serial_for_url", side_effect=serial.SerialException(
        errno.EBUSY, "Could not exclusively lock port /dev/ttyACM0: [Errno 11] Resource temporarily unavailable"))
    _fails(["--port", "/dev/ttyACM0", "info"], LinkError.exit_code, "port /dev/ttyACM0 is busy", "close the other")


def test_busy_for_real(serve_pty):
    from hostlink.links.serial import SerialLink

    served = serve_pty()
    holder = SerialLink(served.url)  # another program has the port open
    try:
        _fails(["--port", served.url, "info"], LinkError.exit_code, f"port {served.url} is busy")
    finally:
        holder.close()


@pytest.mark.parametrize("args", [["--board", "esp32", "info"], ["--port", "emu:esp32", "info"]])
def test_unknown_board(args):
    _fails(args, ConfigError.exit_code, "unknown board 'esp32'", "imx500", "coralmicro", "spresense")


def test_wrong_board_on_port(serve_pty):
    served = serve_pty("coralmicro")
    _fails(["--port", served.url, "--board", "imx500", "info"], ConfigError.exit_code, "is coralmicro, not imx500")


def test_model_file_missing(tmp_path):
    _fails(["--port", "emu:imx500", "upload", str(tmp_path / "nope.tflite")], ConfigError.exit_code, "does not exist")


def test_model_file_unreadable(tmp_path, mocker, tiny_model_file):
    mocker.patch("pathlib.Path.read_bytes", side_effect=PermissionError(errno.EACCES, "Permission denied"))
    _fails(["--port", "emu:imx500", "upload", str(tiny_model_file)], ConfigError.exit_code, "permission denied")


def test_model_file_is_a_directory(tmp_path):
    r = CliRunner().invoke(main, ["--port", "emu:imx500", "upload", str(tmp_path)])
    assert r.exit_code == 2 and "is a directory" in r.output and "Traceback" not in r.output


def test_model_file_empty(tmp_path):
    p = tmp_path / "empty.tflite"
    p.write_bytes(b"")
    _fails(["--port", "emu:imx500", "upload", str(p)], ConfigError.exit_code, "empty")


@pytest.mark.parametrize("cut", [6, 100, 300_000])
def test_model_file_truncated(tmp_path, cut):
    p = tmp_path / "cut.tflite"
    p.write_bytes(bundled_model("tinytracker_int8.tflite").read_bytes()[:cut])
    text = _fails(["--port", "emu:imx500", "upload", str(p)], ConfigError.exit_code, "truncated")
    assert "cut.tflite" in text


def test_model_file_not_tflite(tmp_path):
    p = tmp_path / "notes.tflite"
    p.write_text("these are my notes, not a model\n" * 4)
    _fails(["--port", "emu:imx500", "upload", str(p)], ConfigError.exit_code, "notes.tflite", "not a", "hint:")


def test_model_in_a_format_the_board_does_not_take(tmp_path):
    z = tmp_path / "packerOut.zip"  # what an IMX500 converter writes: this emulator takes .tflite only
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("dnnParams.xml", "<x/>")
    _fails(["--port", "emu:imx500", "upload", str(z)], DeviceError.exit_code,
           "does not accept imx500-packerout models", "accepts tflite")


def test_float_model_refused_by_the_board(tmp_path, float_model):
    p = tmp_path / "float.tflite"
    p.write_bytes(float_model)
    _fails(["--port", "emu:coralmicro", "upload", str(p)], DeviceError.exit_code,
           "coralmicro refused model 'float'", "INT8 models only", "MODEL_NOT_INT8", "hint:")


def test_oversized_model_refused_by_the_board(tmp_path):
    from hostlink.testing.synth_models import tiny_int8_model

    p = tmp_path / "huge.tflite"
    p.write_bytes(tiny_int8_model(classes=9000))
    _fails(["--port", "emu:spresense", "upload", str(p)], DeviceError.exit_code, "model store holds", "MODEL_TOO_LARGE")


def test_model_that_does_not_fit_ram(tmp_path):
    _fails(["--port", "emu:spresense", "run", str(bundled_model("tinytracker_int8.tflite"))], DeviceError.exit_code,
           "768 KB", "MODEL_ARENA_TOO_LARGE")


def test_silent_device(silent_pty):
    text = _fails(["--timeout-scale", "0.05", "--port", silent_pty, "info"], LinkError.exit_code,
                  f"{silent_pty} is silent", "hint:")
    assert "hostlink flash" in text


def test_protocol_version_mismatch(serve_pty):
    served = serve_pty("imx500", version=2)
    _fails(["--port", served.url, "info"], ProtocolError.exit_code, "protocol version mismatch", "board speaks v2",
           "this hostlink speaks v1")


def test_nothing_listening_on_tcp(free_tcp_port):
    _fails(["--port", f"socket://127.0.0.1:{free_tcp_port}", "info"], LinkError.exit_code, "nothing listens")


def test_capture_without_a_model():
    _fails(["--port", "emu:imx500", "capture"], ConfigError.exit_code, "no model is loaded", "hostlink upload")


def test_bad_input_file(tmp_path):
    p = tmp_path / "x.npy"
    p.write_text("not numpy")
    _fails(["--port", "emu:imx500", "capture", "--input", str(p)], ConfigError.exit_code, "cannot read", ".npy")
