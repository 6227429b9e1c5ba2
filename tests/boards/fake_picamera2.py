"""picamera2 and the IMX500 driver replaced by fakes for the IMX500 agent tests.

Modelled on picamera2 at 3e6dff099d3982c8fbdb25f7cbe2e4c17bac34f7 (picamera2/devices/imx500/imx500.py,
examples/imx500/imx500_object_detection_injection_demo.py). ``IMX500(network_file, camera_id='',
tensor_injection=False)`` opens the sensor's V4L2 subdevice and talks to it with VIDIOC_S_CTRL /
VIDIOC_G_CTRL on a ``struct v4l2_control`` (u32 id, s32 value), as picamera2 does through
``fcntl.ioctl``: here ``FakeImx500Driver.ioctl`` takes the same request numbers and bytes.

* ENABLE_INJECTION (0x00982903) switches the DNN's input from the sensor to injected tensors.
* NETWORK_FW_FD (0x00982901): the driver reads the .rpk from the descriptor (it must parse).
* INPUT_TENSOR_FD (0x00982904): the driver reads the whole tensor from the descriptor at once (the
  caller may close it afterwards, as the demo does). Its size must be 3 planes of the network's
  input padded to a width that is a multiple of 32 and an even height, else EINVAL. The tensor
  takes effect ``injection_latency`` frames later; INJECTION_CMP_FRM (0x00982905) reads that
  frame's 8-bit count. Frames before it still run the previous tensor (stale results).

``Picamera2`` hands out requests whose metadata carries what libcamera exports: CnnOutputTensor
(float32, outputs concatenated, each flattened in Fortran order), CnnOutputTensorInfo (raw bytes
ending in the 8-bit frameCount, 712 bytes; 708 without it when ``legacy_info``), CnnKpiInfo (dnn,
dsp runtimes in µs), SensorTimestamp (ns) and ExposureTime (µs). The first ``loading_frames`` frames
after each start carry no inference, as while the network firmware is still loading. Frames in
``drop_frames`` (absolute frame numbers) never reach the application; frames in
``no_output_frames`` arrive without inference. The fake DNN is a function of what it ran on: a
seeded random draw for sensor frames, and for an injected tensor the tensor's own values (so a
test can tell which input a result came from).
"""
import errno
import os
import struct
from types import SimpleNamespace

import numpy as np

from hostlink.protocols import imx500_rpk, imx500_tensors

NETWORK_FW_FD_CTRL_ID = 0x00982901
ENABLE_INJECTION_CTRL_ID = 0x00982903
INPUT_TENSOR_FD_CTRL_ID = 0x00982904
INJECTION_CMP_FRM_CTRL_ID = 0x00982905
VIDIOC_G_CTRL = 0xC008561B  # _IOWR('V', 27, struct v4l2_control)
VIDIOC_S_CTRL = 0xC008561C  # _IOWR('V', 28, struct v4l2_control)


def injected_outputs(planes: np.ndarray, shapes) -> list[np.ndarray]:
    """The fake DNN on an injected tensor: output k is the tensor's values (planes in order, row
    major) rotated by k and repeated to fill the shape, divided by 128."""
    v = planes.astype(np.float32).ravel()
    return [(np.resize(np.roll(v, -k), shape) / 128.0).astype(np.float32) for k, shape in enumerate(shapes)]


class FakeImx500Driver:
    """The imx500 V4L2 subdevice: controls, the network it was given, the injected tensors."""

    def __init__(self, sensor):
        self.sensor = sensor
        self.injection = False
        self.network = None  # parsed .rpk
        self.tensors: list[tuple[int, int, np.ndarray]] = []  # (first frame, id, planes), in order
        self.cmp_frame = 0
        self.controls_set: list[tuple[int, int]] = []

    def ioctl(self, fd, request, arg, mutate_flag=True):
        """fcntl.ioctl on the subdevice: VIDIOC_S_CTRL / VIDIOC_G_CTRL with a struct v4l2_control."""
        if getattr(fd, "driver", None) is not self:
            raise OSError(errno.EBADF, "not this sensor's subdevice")
        cid, value = struct.unpack("<Ii", bytes(arg))
        if request == VIDIOC_S_CTRL:
            self._set(cid, value)
            return bytes(arg)
        if request == VIDIOC_G_CTRL:
            out = struct.pack("<Ii", cid, self._get(cid))
            if isinstance(arg, bytearray):
                arg[:] = out
            return out
        raise OSError(errno.ENOTTY, "inappropriate ioctl for device")

    def _set(self, cid, value):
        self.controls_set.append((cid, value))
        if cid == ENABLE_INJECTION_CTRL_ID:
            self.injection = bool(value)
        elif cid == NETWORK_FW_FD_CTRL_ID:
            self.network = imx500_rpk.parse_rpk(_read_fd(value))
            self.tensors.clear()
        elif cid == INPUT_TENSOR_FD_CTRL_ID:
            if not self.injection or self.network is None:
                raise OSError(errno.EPERM, "Operation not permitted")
            planes = self._planes(_read_fd(value))
            first = self.sensor.frames + self.sensor.injection_latency
            self.tensors.append((first, len(self.sensor.injected), planes))
            self.sensor.injected.append(planes)
            self.cmp_frame = first & 0xFF
        else:
            raise OSError(errno.EINVAL, "Invalid argument")

    def _get(self, cid):
        if cid == INJECTION_CMP_FRM_CTRL_ID:
            return self.cmp_frame
        raise OSError(errno.EINVAL, "Invalid argument")

    def _planes(self, data: bytes) -> np.ndarray:
        ni = self.network.network_info
        w, h = ni.input_width, ni.input_height
        pw, ph = (w + 31) // 32 * 32, (h + 1) // 2 * 2
        if len(data) != 3 * pw * ph:
            raise OSError(errno.EINVAL, "Invalid argument")
        k03 = ni.norm.get("K03")
        signed = True if k03 is None else bool((k03 >> 12) & 1)
        planes = np.frombuffer(data, np.int8 if signed else np.uint8).reshape(3, ph, pw)
        if planes[:, h:, :].any() or planes[:, :, w:].any():
            raise OSError(errno.EINVAL, "Invalid argument")  # padding must be zero
        return planes[:, :h, :w].copy()

    def tensor_for(self, frame: int):
        """(id, planes) of the injected tensor the DNN runs on this frame, or None."""
        current = None
        for first, tid, planes in self.tensors:
            if first <= frame:
                current = (tid, planes)
        return current


def _read_fd(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0)


class _Subdev:
    """What IMX500.device_fd is: an open subdevice node."""

    def __init__(self, driver):
        self.driver = driver
        self.closed = False

    def close(self):
        self.closed = True


class FakeSensor:
    def __init__(self, clock_ns, shapes=((4, 10), (10,), (1,)), loading_frames=3, frame_ns=33_333_333,
                 kpi=(13_960, 12_360), exposure_us=8_000, readout_us=2_000, injection_latency=2, first_frame=0,
                 drop_frames=(), no_output_frames=()):
        self.clock_ns = clock_ns  # a FakeNs; the fake advances it frame by frame
        self.shapes = [tuple(s) for s in shapes]
        self.loading_frames = loading_frames
        self.frame_ns, self.kpi, self.exposure_us, self.readout_us = frame_ns, kpi, exposure_us, readout_us
        self.injection_latency = injection_latency
        self.frames = first_frame  # absolute frame number of the last frame the sensor produced
        self.started_at = 0
        self.starts = 0
        self.started_with = None
        self.loaded = []
        self.never_infers = False
        self.fail_start = None
        self.drop_frames: set[int] = set(drop_frames)
        self.no_output_frames: set[int] = set(no_output_frames)
        self.legacy_info = False
        self.last_outputs: list[np.ndarray] = []
        self.injected: list[np.ndarray] = []  # every tensor the driver took, as planes
        self.delivered: list[tuple[int, int | None]] = []  # (frame, injected tensor id or None) with outputs
        self.driver = FakeImx500Driver(self)

    def outputs_for(self, n: int) -> list[np.ndarray]:
        rng = np.random.default_rng(n)
        return [rng.standard_normal(s).astype(np.float32) for s in self.shapes]

    def module(self):
        sensor = self
        driver = self.driver

        def s_ctrl(dev, cid, value):
            driver.ioctl(dev, VIDIOC_S_CTRL, struct.pack("<Ii", cid, value))

        class IMX500:
            def __init__(self, network_file, camera_id="", tensor_injection=False):
                self.device_fd = _Subdev(driver)
                if tensor_injection:
                    s_ctrl(self.device_fd, ENABLE_INJECTION_CTRL_ID, 1)  # before the firmware, as picamera2
                fd = os.open(os.path.abspath(network_file), os.O_RDONLY)
                try:
                    s_ctrl(self.device_fd, NETWORK_FW_FD_CTRL_ID, fd)
                finally:
                    os.close(fd)
                self.package = driver.network
                sensor.loaded.append(network_file)

            @property
            def camera_num(self):
                return 0

            def __set_input_tensor(self, input_tensor_fd):
                try:
                    s_ctrl(self.device_fd, INPUT_TENSOR_FD_CTRL_ID, input_tensor_fd)
                except OSError as err:
                    raise RuntimeError(f"IMX500: Unable to set input tensor fd: {err}") from err

            def get_injection_cmp_frm(self):
                buf = bytearray(struct.pack("<Ii", INJECTION_CMP_FRM_CTRL_ID, 0))
                try:
                    driver.ioctl(self.device_fd, VIDIOC_G_CTRL, buf)
                except OSError as err:
                    print(f"IMX500: Unable to get injection comparison frame from device driver: {err}")
                    return None
                return struct.unpack("<Ii", bytes(buf))[1]

        class Request:
            def __init__(self, md):
                self._md = md
                self.released = False

            def get_metadata(self):
                return self._md

            def release(self):
                self.released = True

        class Picamera2:
            def __init__(self, num):
                assert num == 0
                self.running = False

            def create_preview_configuration(self, controls=None, buffer_count=4):
                return dict(controls=controls, buffer_count=buffer_count)

            def start(self, config):
                if sensor.fail_start:
                    raise RuntimeError(sensor.fail_start)
                sensor.started_with = config
                sensor.started_at = sensor.frames
                sensor.starts += 1
                self.running = True

            def capture_request(self):
                assert self.running
                while True:
                    sensor.frames += 1
                    sensor.clock_ns.advance(sensor.frame_ns)  # wait for the next frame slot
                    if sensor.frames not in sensor.drop_frames:
                        break  # a dropped frame never reaches the application
                frame = sensor.frames
                t0 = sensor.clock_ns()
                md = {"SensorTimestamp": t0, "ExposureTime": sensor.exposure_us}
                outs, tid = None, None
                infers = (frame - sensor.started_at > sensor.loading_frames and not sensor.never_infers
                          and frame not in sensor.no_output_frames)
                if infers and driver.injection:
                    current = driver.tensor_for(frame)
                    if current is not None:
                        tid = current[0]
                        outs = injected_outputs(current[1], sensor.shapes)
                elif infers:
                    outs = sensor.outputs_for(frame)
                if outs is not None:
                    sensor.last_outputs = outs
                    sensor.delivered.append((frame, tid))
                    md["CnnOutputTensor"] = np.concatenate([o.ravel(order="F") for o in outs]).tolist()
                    md["CnnOutputTensorInfo"] = imx500_tensors.build_output_tensor_info(
                        "fake_net", sensor.shapes, frame_count=None if sensor.legacy_info else frame)
                    md["CnnKpiInfo"] = list(sensor.kpi)
                # the request reaches the agent after exposure, readout, DSP, DNN and the CSI-2 transfer
                sensor.clock_ns.advance((sensor.exposure_us + sensor.readout_us + sum(sensor.kpi)) * 1000 + 500_000)
                return Request(md)

            def stop(self):
                self.running = False

            def close(self):
                pass

        return SimpleNamespace(Picamera2=Picamera2, devices=SimpleNamespace(IMX500=IMX500))


class FakeNs:
    def __init__(self, start=5_000_000_000):
        self.t = start

    def __call__(self) -> int:
        return self.t

    def advance(self, ns: int) -> int:
        before = self.t
        self.t += ns
        return before
