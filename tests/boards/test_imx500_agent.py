"""The IMX500 board agent (firmware/imx500) with picamera2 and the sensor's driver faked, driven
through the real protocol v1 client: upload an .rpk or packerOut.zip, capture sensor frames or
injected host inputs, check outputs, the frame matching and stage times."""
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hostlink.client import Device
from hostlink.emulator.core import BoardCore
from hostlink.errors import DeviceError
from hostlink.links.base import Link
from hostlink.protocols import imx500_rpk

from .fake_picamera2 import ENABLE_INJECTION_CTRL_ID, FakeNs, FakeSensor, injected_outputs

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "firmware" / "imx500"))
from imx500_agent import Imx500Backend  # noqa: E402


class BoardLink(Link):
    """The agent's board core in this process, behind the Link interface."""

    def __init__(self, backend):
        self.url = "agent:imx500"
        self._rx = bytearray()
        self.board = BoardCore(backend, self._rx.extend)

    def write(self, data: bytes) -> None:
        self.board.feed(data)

    def read(self, timeout: float) -> bytes:
        out = bytes(self._rx)
        self._rx.clear()
        return out

    def close(self) -> None:
        pass


def network(width=320, height=240, rate=20, fmt="RGB", norm=None):
    info = {"networkID": "00000042", "inputTensorWidth": str(width), "inputTensorHeight": str(height),
            "inputTensorFormat": fmt, **(norm or {})}
    return imx500_rpk.build_rpk([b"\x5a" * 4096], info, {"task": "classification", "inference_rate": rate})


def make_rig(tmp_path, **sensor_kwargs):
    clock = FakeNs()
    sensor = FakeSensor(clock, **sensor_kwargs)
    packaged = []

    def packager(zip_path, out_dir):
        with zipfile.ZipFile(zip_path) as z:
            packaged.append(z.namelist())
            rpk = out_dir / "network.rpk"
            rpk.write_bytes(z.read("network.rpk.src"))
        return rpk

    backend = Imx500Backend(picamera2=sensor.module(), packager=packager, workdir=tmp_path, clock_ns=clock,
                            serial="PI-TEST", ioctl=sensor.driver.ioctl)
    dev = Device(BoardLink(backend))
    return dev, sensor, packaged


@pytest.fixture
def rig(tmp_path):
    return make_rig(tmp_path)


def test_upload_rpk_and_capture_results_with_stage_times(rig):
    dev, sensor, _ = rig
    info = dev.hello()
    assert info.board == "imx500" and "imx500-rpk" in info.formats and not info.emulated
    model = dev.upload(network(), name="net", fmt="imx500-rpk")
    assert sensor.started_with["controls"] == {"FrameRate": 20.0} and sensor.started_with["buffer_count"] == 12
    assert [s.shape for s in model.outputs] == [(4, 10), (10,), (1,)]
    assert model.inputs[0].shape == (1, 240, 320, 3) and model.expected_frame_us == 50_000
    results = dev.capture(3)
    assert len(results) == 3
    last = results[-1]
    for got, want in zip(last.outputs, sensor.last_outputs):
        np.testing.assert_array_equal(got, want)  # Fortran-order split undone exactly
    st = last.stages
    assert set(st) == {"capture", "preprocess", "inference", "transfer"}
    assert st["capture"].duration_ms == pytest.approx(8.0)
    assert st["preprocess"].duration_ms == pytest.approx(12.36)
    assert st["inference"].duration_ms == pytest.approx(13.96)
    assert st["preprocess"].start_us == st["capture"].end_us and st["transfer"].start_us == st["inference"].end_us
    assert st["transfer"].duration_ms == pytest.approx(2.5)  # readout + CSI-2 in the fake's timeline


def test_packerout_zip_is_packaged_on_the_pi(rig):
    dev, sensor, packaged = rig
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("network.rpk.src", network(rate=10))
    model = dev.upload(buf.getvalue(), name="packerOut", fmt="imx500-packerout")
    assert packaged == [["network.rpk.src"]] and model.expected_frame_us == 100_000
    assert sensor.loaded and sensor.loaded[-1].endswith("network.rpk")


def test_corrupt_package_is_refused_and_the_old_model_stays(rig):
    dev, sensor, _ = rig
    dev.upload(network(), name="good", fmt="imx500-rpk")
    bad = bytearray(network())
    bad[4096 + 60] ^= 0xFF  # the block footer
    with pytest.raises(DeviceError, match="not a valid network package"):
        dev.upload(bytes(bad), name="bad", fmt="imx500-rpk")
    assert dev.model_info().name == "good"


def test_network_that_never_produces_output(rig):
    dev, sensor, _ = rig
    sensor.never_infers = True
    with pytest.raises(DeviceError, match="no inference output"):
        dev.upload(network(), name="net", fmt="imx500-rpk")


def test_camera_failure_is_reported(rig):
    dev, sensor, _ = rig
    sensor.fail_start = "IMX500: Requested camera dev-node not found"
    with pytest.raises(DeviceError, match="dev-node not found"):
        dev.upload(network(), name="net", fmt="imx500-rpk")


def test_tflite_is_refused_at_model_begin(rig):
    from hostlink import protocols as P
    from hostlink.emulator.core import BoardError

    backend = rig[0].link.board.backend
    with pytest.raises(BoardError, match="not tflite"):
        backend.check_begin(1000, P.ModelFormat.TFLITE, "m")


def pixel_planes(img: np.ndarray, fmt="RGB", norm=(-2048, -2048, -2048), div=(1024, 1024, 1024), signed=True):
    """What the sensor's DNN should see for an RGB image: planes in the network's order, each
    ((pixel * div) >> 6 + norm) >> 4, saturated (the inverse of picamera2's input_tensor_image)."""
    src = (0, 1, 2) if fmt == "RGB" else (2, 1, 0)
    lo, hi = (-128, 127) if signed else (0, 255)
    planes = [np.clip((((img[:, :, c].astype(np.int64) * d) >> 6) + n) >> 4, lo, hi) for c, n, d in zip(src, norm, div)]
    return np.stack(planes).astype(np.int8 if signed else np.uint8)


def images(n, h, w, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_injected_inputs_each_get_their_own_result(tmp_path):
    dev, sensor, _ = make_rig(tmp_path, injection_latency=2)
    backend = dev.link.board.backend
    info = dev.hello()
    assert "HOST_INPUT" in info.capabilities
    model = dev.upload(network(width=40, height=30), name="net", fmt="imx500-rpk")
    assert model.inputs[0].shape == (1, 30, 40, 3) and model.inputs[0].dtype == "uint8"
    assert model.inputs[0].scale == pytest.approx(1 / 255)
    # the 8-bit frame counter wraps during the run; frames go missing and arrive without outputs
    sensor.frames = 230
    sensor.drop_frames = {f for f in range(230, 2000) if f % 7 == 3}
    sensor.no_output_frames = {f for f in range(230, 2000) if f % 11 == 5}
    xs = images(24, 30, 40)
    for x in xs:
        r = dev.capture(input=x)[0]
        want = injected_outputs(pixel_planes(x[0]), sensor.shapes)
        for got, w in zip(r.outputs, want):
            np.testing.assert_array_equal(got, w)  # the result of this input, not of the one before
        assert set(r.stages) == {"preprocess", "inference", "transfer"}  # nothing exposed
        assert r.stages["preprocess"].duration_ms == pytest.approx(12.36)
        assert r.stages["inference"].duration_ms == pytest.approx(13.96)
    assert sensor.frames > 256 + 230 - 256  # wrapped at least once past 255
    np.testing.assert_array_equal(sensor.injected[-1], pixel_planes(xs[-1][0]))
    stats = backend.injection_stats
    assert stats["stale"] > 0 and stats["dropped"] > 0  # both kinds of mismatch were seen and skipped
    assert stats["injected"] == len(xs) + stats["dropped"]  # each skipped frame cost one re-injection


def test_injection_follows_the_networks_layout_and_normalisation(tmp_path):
    dev, sensor, _ = make_rig(tmp_path)
    # BGR planes, an offset of -1600/16 and gains of 800/1024 (K: 13- and 12-bit two's complement)
    norm = {"inputTensorNorm_K03": hex(8192 - 1600), "inputTensorNorm_K13": hex(8192 - 1200),
            "inputTensorNorm_K23": hex(8192 - 1000), "inputTensorNorm_K02": "800", "inputTensorNorm_K11": "900",
            "inputTensorNorm_K20": "700", "inputTensorNorm_K00": "0x0", "inputTensorNorm_K22": "0x0"}
    dev.upload(network(width=33, height=7, fmt="BGR", norm=norm), name="bgr", fmt="imx500-rpk")
    x = images(1, 7, 33, seed=3)[0]
    r = dev.capture(input=x)[0]
    want = pixel_planes(x[0], "BGR", (-1600, -1200, -1000), (800, 900, 700))
    np.testing.assert_array_equal(sensor.injected[-1], want)  # padded to 64 x 8 on the wire, unpadded here
    np.testing.assert_array_equal(r.outputs[1], injected_outputs(want, sensor.shapes)[1])
    # an unsigned network (K03 sign bit clear) gets uint8 planes
    dev.upload(network(width=32, height=2, norm={"inputTensorNorm_K03": "0x0"}), name="u8", fmt="imx500-rpk")
    x = images(1, 2, 32, seed=4)[0]
    dev.capture(input=x)
    np.testing.assert_array_equal(sensor.injected[-1], pixel_planes(x[0], norm=(0, 0, 0), signed=False))


def test_several_frames_from_one_host_input_and_back_to_the_sensor(tmp_path):
    dev, sensor, _ = make_rig(tmp_path)
    dev.upload(network(width=32, height=8), name="net", fmt="imx500-rpk")
    x = images(1, 8, 32, seed=5)[0]
    results = dev.capture(count=3, input=x)
    want = injected_outputs(pixel_planes(x[0]), sensor.shapes)
    for r in results:
        np.testing.assert_array_equal(r.outputs[0], want[0])
    assert sensor.driver.injection
    # a sensor capture restarts the camera with injection off (picamera2 itself never turns it off)
    r = dev.capture(1)[0]
    assert not sensor.driver.injection and (ENABLE_INJECTION_CTRL_ID, 0) in sensor.driver.controls_set
    np.testing.assert_array_equal(r.outputs[0], sensor.outputs_for(sensor.delivered[-1][0])[0])
    assert sensor.delivered[-1][1] is None and "capture" in r.stages


def test_libcamera_without_frame_count_cannot_match_injected_inputs(tmp_path):
    dev, sensor, _ = make_rig(tmp_path)
    dev.upload(network(width=32, height=8), name="net", fmt="imx500-rpk")
    sensor.legacy_info = True
    with pytest.raises(DeviceError, match="no frameCount"):
        dev.capture(input=images(1, 8, 32)[0])


def test_uploads_are_not_left_behind(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    dev, sensor, _ = make_rig(work)
    dev.upload(network(), name="one", fmt="imx500-rpk")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("network.rpk.src", network(rate=10))
    dev.upload(buf.getvalue(), name="two", fmt="imx500-packerout")
    with pytest.raises(DeviceError):
        dev.upload(b"PK\x03\x04 not really a zip", name="bad", fmt="imx500-packerout")
    bad = bytearray(network())
    bad[4096 + 60] ^= 0xFF
    with pytest.raises(DeviceError):
        dev.upload(bytes(bad), name="bad2", fmt="imx500-rpk")
    kept = [p for p in work.iterdir()]
    assert len(kept) == 1 and (kept[0] / "network.rpk").is_file()  # the running model's package only
    dev.link.board.backend.close()
    assert list(work.iterdir()) == []
    # an agent without --workdir removes its own temporary directory
    clock = FakeNs()
    own = Imx500Backend(picamera2=FakeSensor(clock).module(), workdir=None, clock_ns=clock, serial="X")
    Device(BoardLink(own)).upload(network(), name="net", fmt="imx500-rpk")
    assert own._workdir.is_dir()
    own.close()
    assert not own._workdir.exists()


def test_a_network_that_does_not_start_leaves_the_old_one_running(tmp_path):
    dev, sensor, _ = make_rig(tmp_path)
    dev.upload(network(), name="good", fmt="imx500-rpk")
    sensor.fail_start = "IMX500: Unable to set network firmware"
    with pytest.raises(DeviceError, match="Unable to set network firmware"):
        dev.upload(network(rate=10), name="other", fmt="imx500-rpk")
    sensor.fail_start = None
    assert dev.model_info().name == "good"
    assert sensor.loaded[-1].endswith("network.rpk") and len(dev.capture(2)) == 2


def _serve_agent(tmp_path, name, **sensor_kwargs):
    """The agent on a loopback TCP port, as `python3 -m imx500_agent --tcp` serves it."""
    import threading

    from hostlink.emulator.server import serve_tcp

    clock = FakeNs()
    sensor = FakeSensor(clock, **sensor_kwargs)
    backend = Imx500Backend(picamera2=sensor.module(), workdir=tmp_path / f"work-{name}", clock_ns=clock,
                            serial="PI-TEST", ioctl=sensor.driver.ioctl)
    (tmp_path / f"work-{name}").mkdir()
    stop, ready = threading.Event(), []
    thread = threading.Thread(target=serve_tcp, daemon=True, args=(lambda emit: BoardCore(backend, emit),
                                                                     "127.0.0.1", 0, stop, ready.append))
    thread.start()
    while not ready:
        thread.join(0.01)
    return ready[0], sensor, backend, stop, thread


def test_hostlink_eval_runs_on_the_agent_with_injected_inputs(tmp_path):
    import json

    from click.testing import CliRunner

    from hostlink.cli import main
    from hostlink.demos.datasets import write_segment

    data = write_segment(tmp_path / "fundus", 6, seed=11, size=48)
    size = 32
    model = tmp_path / "vessels.rpk"
    model.write_bytes(network(width=size, height=size))
    (tmp_path / "vessels.card.json").write_text(json.dumps({"output": {"kind": "probability"}}))

    def run(name, **sensor_kwargs):
        url, sensor, backend, stop, thread = _serve_agent(tmp_path, name, shapes=((size, size),), **sensor_kwargs)
        try:
            res = CliRunner().invoke(main, ["eval", "--board", url, "--data", str(data), "--model", str(model),
                                            "--out", str(tmp_path / f"eval-{name}"), "--json"], catch_exceptions=False)
        finally:
            stop.set()
            thread.join(5)
        assert res.exit_code == 0, res.output
        samples = (tmp_path / f"eval-{name}" / "samples.jsonl").read_text().splitlines()
        return json.loads(res.stdout), samples, sensor, backend

    # a sensor that answers every injected tensor on the next frame: nothing to skip or redo
    ideal, ideal_samples, sensor, backend = run("ideal", injection_latency=1, loading_frames=0)
    assert backend.injection_stats["stale"] == backend.injection_stats["dropped"] == 0
    assert ideal["samples"] == 6 and ideal["complete"] and ideal["board"] == "imx500"
    assert set(ideal["board_ms_per_sample"]) == {"preprocess", "inference", "transfer"}
    assert len(sensor.injected) == 6 and len({t.tobytes() for t in sensor.injected}) == 6

    # results late by three frames, frames lost, frames without outputs, the counter wrapping
    lossy, lossy_samples, sensor, backend = run(
        "lossy", injection_latency=3, first_frame=230, drop_frames={f for f in range(1, 4000) if f % 5 == 2},
        no_output_frames={f for f in range(1, 4000) if f % 9 == 4})
    # every sample scored on the outputs of its own image: the same per-sample metrics as the ideal run
    assert lossy_samples == ideal_samples
    assert lossy["metrics"] == ideal["metrics"]
    stats = backend.injection_stats
    assert stats["stale"] > 0 and stats["dropped"] > 0 and sensor.frames > 256
