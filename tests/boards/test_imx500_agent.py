"""The IMX500 board agent (firmware/imx500) with picamera2 faked, driven through the real
protocol v1 client: upload an .rpk or packerOut.zip, capture, check outputs and stage times."""
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

from .fake_picamera2 import FakeNs, FakeSensor

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


def network(width=320, height=240, rate=20):
    return imx500_rpk.build_rpk([b"\x5a" * 4096], {"networkID": "00000042", "inputTensorWidth": str(width),
                                                   "inputTensorHeight": str(height), "inputTensorFormat": "RGB"},
                                {"task": "classification", "inference_rate": rate})


@pytest.fixture
def rig(tmp_path):
    clock = FakeNs()
    sensor = FakeSensor(clock)
    packaged = []

    def packager(zip_path, out_dir):
        with zipfile.ZipFile(zip_path) as z:
            packaged.append(z.namelist())
            rpk = out_dir / "network.rpk"
            rpk.write_bytes(z.read("network.rpk.src"))
        return rpk

    backend = Imx500Backend(picamera2=sensor.module(), packager=packager, workdir=tmp_path, clock_ns=clock,
                            serial="PI-TEST")
    dev = Device(BoardLink(backend))
    return dev, sensor, packaged


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


def test_host_input_is_not_supported(rig):
    dev, _, _ = rig
    dev.upload(network(), name="net", fmt="imx500-rpk")
    with pytest.raises(DeviceError, match="injection is not supported"):
        dev.capture(1, input=np.zeros((1, 240, 320, 3), np.uint8))
