"""The IMX500 board backend: hostlink's protocol v1 board core on a Raspberry Pi + AI Camera.

``BoardCore`` (hostlink.emulator.core) handles the protocol; this backend supplies the hardware:

* load: a ``packerOut.zip`` is packaged on the Pi with ``imx500-package`` into ``network.rpk``;
  an ``.rpk`` is used as is. The package is parsed first (``protocols/imx500_rpk.py``) for the input
  size and frame rate, then handed to picamera2 (``IMX500(rpk)`` sets the network firmware before
  ``Picamera2`` is configured) and the camera starts. Frames are read until the first one carries
  an inference result, which gives the output shapes. If the new network does not start, the
  previous one is started again. Each upload lives in its own folder under the work directory;
  the folder of a model that is replaced or refused is deleted, and the agent's own temporary
  work directory goes when it stops.
* run_frame: one request's metadata becomes one RESULT. ``CnnOutputTensor`` is split with
  ``CnnOutputTensorInfo`` (Fortran order, as picamera2 does). Stage times come from the sensor:
  exposure from ``SensorTimestamp`` and ``ExposureTime``; the sensor's DSP and DNN runtimes from
  ``CnnKpiInfo``, placed after the exposure; transfer ends when the request reached the agent.
* host inputs (CAPTURE from HOST): the input is an RGB image of the network's input size (uint8,
  read as pixel / 255). The camera restarts with input tensor injection enabled, the image is
  laid out and normalised as the network's input settings say (injection.py), handed to the
  driver through a memfd, and the result is the frame whose ``frameCount`` equals the driver's
  comparison frame: outputs of an earlier tensor are skipped, and a tensor whose frame went by
  without outputs is injected again. Stage times as above without CAPTURE (nothing is exposed).
  A sensor capture afterwards restarts the camera without injection.

The board clock is CLOCK_MONOTONIC in microseconds, the clock libcamera timestamps frames with.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from hostlink import protocols as P
from hostlink.emulator.core import Backend, BoardError, FrameOutcome, LoadedModel
from hostlink.protocols import imx500_rpk, imx500_tensors
from hostlink.types import TensorSpec

from .injection import (ENABLE_INJECTION_CTRL_ID, VIDIOC_S_CTRL, InjectionError, InputTensorLayout, frame_delta,
                        v4l2_control)

FW_VERSION = (0, 1, 0)
#: Network memory on the sensor (secondary sources; the converter's MemoryReport is authoritative).
SENSOR_NETWORK_BYTES = 8 * 1024 * 1024
#: Upload store on the Pi side: generous, the package lives on the SD card.
STORE_BYTES = 64 * 1024 * 1024
#: Frames to wait for the first inference after start: a cold network load takes minutes.
WARMUP_FRAMES = 3000
#: Frames to wait for a result during capture when the DNN runs slower than the sensor.
RESULT_WAIT_FRAMES = 30
#: Times one injected tensor is sent again after the sensor skipped its frame, before giving up.
REINJECT_LIMIT = 4
PACKAGER = "imx500-package"


def run_packager(zip_path: Path, out_dir: Path) -> Path:
    """``imx500-package -i packerOut.zip -o DIR`` -> DIR/network.rpk."""
    if shutil.which(PACKAGER) is None:
        raise BoardError(P.ErrorCode.MODEL_FORMAT_UNSUPPORTED,
                         f"{PACKAGER} is not installed on the Pi: sudo apt install imx500-tools, "
                         "or upload a network.rpk")
    proc = subprocess.run([PACKAGER, "-i", str(zip_path), "-o", str(out_dir)], capture_output=True, text=True)
    rpk = out_dir / "network.rpk"
    if proc.returncode != 0 or not rpk.is_file():
        raise BoardError(P.ErrorCode.MODEL_CORRUPT,
                         f"{PACKAGER} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[-400:]}")
    return rpk


def _pi_serial() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("Serial"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return os.uname().nodename


class Imx500Backend(Backend):
    max_payload = 256 * 1024
    has_sensor = True

    def __init__(self, *, picamera2=None, packager: Callable[[Path, Path], Path] = run_packager,
                 workdir: str | os.PathLike | None = None, clock_ns: Callable[[], int] = time.monotonic_ns,
                 serial: str | None = None, ioctl: Callable = fcntl.ioctl):
        self._picamera2 = picamera2
        self._packager = packager
        self._workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="hostlink-imx500-"))
        self._clock_ns = clock_ns
        self._own_workdir = workdir is None
        self._ioctl = ioctl
        self._injection_enabled = False  # what the driver was last told
        self._cam = None
        self._imx500 = None
        self._active = None  # (rpk path, package, slot folder) of the running network
        self._injecting = False
        self._layout: InputTensorLayout | None = None
        self._injection_warm = False  # a result for an injected tensor has arrived since the restart
        #: what the frame matching has seen: outputs of an earlier tensor skipped, tensors re-injected
        self.injection_stats = dict(injected=0, stale=0, dropped=0)
        self._info = dict(
            board=P.BoardKind.IMX500.name, board_name="Raspberry Pi AI Camera (IMX500)",
            serial=serial or _pi_serial(), fw_version=list(FW_VERSION),
            capabilities=dict(SENSOR_CAPTURE=True, HOST_INPUT=True, MARKERS=False, EMULATED=False, REALTIME=True,
                              EDGETPU=False),
            clock_hz=1_000_000, link_bps=0, formats=dict(imx500_packerout=True, imx500_rpk=True),
            memory=[dict(name="imx500_network", size=SENSOR_NETWORK_BYTES)],
            stages=[s.name for s in (P.Stage.CAPTURE, P.Stage.PREPROCESS, P.Stage.INFERENCE, P.Stage.TRANSFER)],
        )

    # -- clock

    def device_info(self) -> dict:
        return self._info

    def now(self) -> int:
        return self._clock_ns() // 1000

    def wait_until(self, tick: int) -> None:
        delay = (tick - self.now()) / 1e6
        if delay > 0:
            time.sleep(delay)

    # -- models

    def _modules(self):
        if self._picamera2 is None:
            try:
                import picamera2
                import picamera2.devices
            except ImportError as exc:
                raise BoardError(P.ErrorCode.CAMERA_FAILED,
                                 f"picamera2 is not available ({exc}): sudo apt install python3-picamera2 imx500-all") from None
            self._picamera2 = picamera2
        return self._picamera2.Picamera2, self._picamera2.devices.IMX500

    def check_begin(self, size: int, fmt: P.ModelFormat, name: str) -> None:
        if fmt not in (P.ModelFormat.IMX500_RPK, P.ModelFormat.IMX500_PACKEROUT):
            raise BoardError(P.ErrorCode.MODEL_FORMAT_UNSUPPORTED,
                             f"the IMX500 runs imx500-rpk or imx500-packerout models, not {P.FORMAT_NAMES[fmt]}: "
                             "convert with imxconv-pt/imxconv-tf")
        if size > STORE_BYTES:
            raise BoardError(P.ErrorCode.MODEL_TOO_LARGE, f"{size} bytes is more than the agent's {STORE_BYTES} byte store")

    def _stage_package(self, data: bytes, fmt: P.ModelFormat, name: str) -> tuple[Path, Path]:
        """The upload in a folder of its own: (network.rpk, folder)."""
        slot = Path(tempfile.mkdtemp(dir=self._workdir))
        try:
            if fmt == P.ModelFormat.IMX500_RPK:
                path = slot / "network.rpk"
                path.write_bytes(data)
                return path, slot
            zip_path = slot / "packerOut.zip"
            zip_path.write_bytes(data)
            if not zipfile.is_zipfile(zip_path):
                raise BoardError(P.ErrorCode.MODEL_CORRUPT, f"{name} is not a zip archive (packerOut.zip expected)")
            return self._packager(zip_path, slot), slot
        except BaseException:
            shutil.rmtree(slot, ignore_errors=True)
            raise

    def _start(self, rpk_path: Path, package, name: str, *, injection: bool) -> None:
        """(Re)start the camera on a network; with injection the DNN takes host tensors, not frames."""
        self.stop()
        Picamera2, IMX500 = self._modules()
        try:
            # sets the network firmware fd (and enables injection first): must precede Picamera2()
            imx500 = IMX500(str(rpk_path), tensor_injection=injection)
            if not injection and self._injection_enabled:
                # picamera2 never turns injection off: back to the sensor's frames, say so ourselves
                self._ioctl(imx500.device_fd, VIDIOC_S_CTRL, v4l2_control(ENABLE_INJECTION_CTRL_ID, 0))
            self._injection_enabled = injection
            cam = Picamera2(imx500.camera_num)
            config = cam.create_preview_configuration(controls={"FrameRate": package.inference_rate}, buffer_count=12)
            cam.start(config)
        except Exception as exc:  # picamera2 raises RuntimeError/OSError with the useful text
            raise BoardError(P.ErrorCode.CAMERA_FAILED, f"the camera did not start with {name}: {exc}") from None
        self._cam, self._imx500 = cam, imx500
        self._injecting = injection
        self._injection_warm = False

    def load(self, data: bytes, fmt: P.ModelFormat, name: str, crc: int) -> LoadedModel:
        rpk_path, slot = self._stage_package(data, fmt, name)
        try:
            try:
                package = imx500_rpk.parse_rpk(rpk_path.read_bytes())
            except imx500_rpk.RpkError as exc:
                raise BoardError(P.ErrorCode.MODEL_CORRUPT, f"not a valid network package: {exc}") from None
            ni = package.network_info
            if ni is None or not ni.input_width or not ni.input_height:
                raise BoardError(P.ErrorCode.MODEL_CORRUPT, "network_info.txt is missing or has no input tensor size")
            try:
                layout = InputTensorLayout.from_network_info(ni)
            except InjectionError:
                layout = None  # sensor frames still work; a host input says why it cannot
            try:
                self._start(rpk_path, package, name, injection=False)
                md = self._next_result(WARMUP_FRAMES, "the first inference after loading")
                net_name, shapes, _ = imx500_tensors.output_shapes(md["CnnOutputTensorInfo"])
            except BoardError:
                self._restart_previous()
                raise
        except BaseException:
            shutil.rmtree(slot, ignore_errors=True)  # a refused upload leaves nothing behind
            raise
        previous = self._active
        self._active = (rpk_path, package, slot)
        self._layout = layout
        if previous is not None and previous[2] != slot:
            shutil.rmtree(previous[2], ignore_errors=True)  # the replaced model's copy
        channels = 3
        # the host sends pixels (value / 255); the sensor normalises them as the network says
        inputs = [TensorSpec("input", "uint8", (1, ni.input_height, ni.input_width, channels), 1.0 / 255.0, 0)]
        outputs = [TensorSpec(f"{net_name or 'output'}:{i}", "float32", shape) for i, shape in enumerate(shapes)]
        return LoadedModel(
            name=name, format=fmt, size=len(data), crc32=crc, arena_bytes=0, macs=0,
            expected_frame_us=int(1e6 / max(package.inference_rate, 1e-3)), engine="IMX500 in-sensor DNN",
            inputs=inputs, outputs=outputs, handle=package)

    def _restart_previous(self) -> None:
        """After a network that failed to start: the one that ran before runs again (best effort)."""
        self.stop()
        if self._active is None:
            return
        rpk_path, package, _ = self._active
        try:
            self._start(rpk_path, package, rpk_path.parent.name, injection=False)
        except BoardError:
            self.stop()  # run_frame reports the camera as not running

    def stop(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            except Exception:  # a camera that already failed must not block loading the next model
                pass
            self._cam = None
        self._imx500 = None

    def close(self) -> None:
        """Stop the camera and delete every upload this agent kept (its work directory if it made it)."""
        self.stop()
        if self._active is not None:
            shutil.rmtree(self._active[2], ignore_errors=True)
            self._active = None
        if self._own_workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)

    # -- frames

    def _next_result(self, frames: int, what: str) -> dict:
        for _ in range(frames):
            md = self._capture_md()
            if md.get("CnnOutputTensor") is not None and md.get("CnnOutputTensorInfo") is not None:
                return md
        raise BoardError(P.ErrorCode.INFERENCE_FAILED, f"no inference output within {frames} frames ({what}); "
                         "is the network firmware loaded (see /sys/kernel/debug/imx500-fw*/fw_progress)?")

    def _capture_md(self) -> dict:
        try:
            request = self._cam.capture_request()
        except Exception as exc:
            raise BoardError(P.ErrorCode.CAMERA_FAILED, f"capture failed: {exc}") from None
        try:
            md = dict(request.get_metadata())
        finally:
            request.release()
        md["_host_us"] = self.now()
        return md

    def _ensure_mode(self, injection: bool) -> None:
        if self._active is None:
            raise BoardError(P.ErrorCode.NO_MODEL, "the camera is not running; upload a model")
        if self._cam is not None and self._injecting == injection:
            return
        rpk_path, package, slot = self._active
        self._start(rpk_path, package, slot.name, injection=injection)
        if not injection:
            self._next_result(WARMUP_FRAMES, "the first inference after leaving tensor injection")

    def _inject(self, tensor: bytes) -> int:
        """Hand one tensor to the driver (memfd + V4L2 control); returns its comparison frame."""
        fd = os.memfd_create("hostlink-input-tensor", os.MFD_CLOEXEC)
        try:
            os.write(fd, tensor)
            # picamera2 has no public call for this; its injection demo uses the same one
            self._imx500._IMX500__set_input_tensor(fd)
            cmp_frame = self._imx500.get_injection_cmp_frm()
        except (OSError, RuntimeError) as exc:
            raise BoardError(P.ErrorCode.CAMERA_FAILED, f"the driver did not take the input tensor: {exc}") from None
        finally:
            os.close(fd)  # the driver holds its own reference from the control call on
        if cmp_frame is None:
            raise BoardError(P.ErrorCode.CAMERA_FAILED, "the driver gave no injection comparison frame")
        self.injection_stats["injected"] += 1
        return int(cmp_frame) & 0xFF

    def _await_injected(self, cmp_frame: int, frames: int) -> dict | None:
        """The metadata of the frame numbered cmp_frame; None when the counter went past it."""
        for _ in range(frames):
            md = self._capture_md()
            info = md.get("CnnOutputTensorInfo")
            if md.get("CnnOutputTensor") is None or info is None:
                continue  # no inference on this frame (the network still loading, or busy)
            count = imx500_tensors.frame_count(info)
            if count is None:
                raise BoardError(P.ErrorCode.SOURCE_UNSUPPORTED,
                                 "this libcamera exports no frameCount in CnnOutputTensorInfo, so injected "
                                 "inputs cannot be matched to their outputs: update libcamera (sudo apt full-upgrade)")
            delta = frame_delta(count, cmp_frame)
            if delta == 0:
                self._injection_warm = True
                return md
            if delta < 0:
                self.injection_stats["stale"] += 1  # outputs of the tensor before
                continue
            self.injection_stats["dropped"] += 1
            return None
        raise BoardError(P.ErrorCode.INFERENCE_FAILED, f"no inference output within {frames} frames of injecting "
                         "an input; is the network firmware loaded (see /sys/kernel/debug/imx500-fw*/fw_progress)?")

    def _run_injected(self, model: LoadedModel, image: np.ndarray, index: int) -> FrameOutcome:
        if self._layout is None:
            try:
                self._layout = InputTensorLayout.from_network_info(model.handle.network_info)
            except InjectionError as exc:
                raise BoardError(P.ErrorCode.SOURCE_UNSUPPORTED, str(exc)) from None
        try:
            tensor = self._layout.tensor(np.asarray(image).reshape(model.inputs[0].shape[1:]))
        except (InjectionError, ValueError) as exc:
            raise BoardError(P.ErrorCode.INPUT_MISMATCH, str(exc)) from None
        self._ensure_mode(injection=True)
        misses = 0
        while True:
            warm = self._injection_warm
            md = self._await_injected(self._inject(tensor), RESULT_WAIT_FRAMES if warm else WARMUP_FRAMES)
            if md is not None:
                break
            if warm:  # while the network loads, frames go by without outputs: not the sensor's fault
                misses += 1
                if misses > REINJECT_LIMIT:
                    raise BoardError(P.ErrorCode.INFERENCE_FAILED,
                                     f"the sensor skipped the frame of frame {index}'s injected input "
                                     f"{misses} times in a row")
        stages = [s for s in frame_stages(md) if s[0] != P.Stage.CAPTURE]  # nothing was exposed
        return FrameOutcome(stages, split_outputs(md, model.outputs))

    def run_frame(self, model: LoadedModel, host_inputs, index: int) -> FrameOutcome:
        if host_inputs is not None:
            if len(host_inputs) != 1:
                raise BoardError(P.ErrorCode.INPUT_MISMATCH, f"the network takes one input, got {len(host_inputs)}")
            return self._run_injected(model, host_inputs[0], index)
        self._ensure_mode(injection=False)
        md = self._next_result(RESULT_WAIT_FRAMES, f"frame {index}")
        return FrameOutcome(frame_stages(md), split_outputs(md, model.outputs))


def split_outputs(md: dict, specs: list[TensorSpec]) -> list[np.ndarray]:
    """CnnOutputTensor split by CnnOutputTensorInfo, each reshaped in Fortran order."""
    try:
        _, shapes, counts = imx500_tensors.output_shapes(md["CnnOutputTensorInfo"])
    except imx500_tensors.TensorInfoError as exc:
        raise BoardError(P.ErrorCode.INFERENCE_FAILED, str(exc)) from None
    flat = np.asarray(md["CnnOutputTensor"], dtype=np.float32).ravel()
    if sum(counts) > flat.size:
        raise BoardError(P.ErrorCode.INFERENCE_FAILED,
                         f"CnnOutputTensor has {flat.size} values, its info describes {sum(counts)}")
    if [tuple(s.shape) for s in specs] != shapes:
        raise BoardError(P.ErrorCode.INFERENCE_FAILED, f"output shapes changed from {[s.shape for s in specs]} to {shapes}")
    out, off = [], 0
    for shape, n in zip(shapes, counts):
        out.append(flat[off:off + n].reshape(shape, order="F"))
        off += n
    return out


def frame_stages(md: dict) -> list[tuple[P.Stage, int, int]]:
    """Stage spans in board ticks (µs) from the sensor timestamp, exposure and the KPI runtimes."""
    host_us = int(md["_host_us"])
    exposure_us = int(md.get("ExposureTime") or 0)
    ts = md.get("SensorTimestamp")
    start = int(ts) // 1000 if ts else host_us - exposure_us
    exposed = start + exposure_us
    kpi = md.get("CnnKpiInfo")
    dnn_us, dsp_us = (int(kpi[0]), int(kpi[1])) if kpi is not None and len(kpi) >= 2 else (0, 0)
    dsp_end = exposed + dsp_us
    dnn_end = dsp_end + dnn_us
    return [(P.Stage.CAPTURE, start, exposed), (P.Stage.PREPROCESS, exposed, dsp_end),
            (P.Stage.INFERENCE, dsp_end, dnn_end), (P.Stage.TRANSFER, dnn_end, max(dnn_end, host_us))]
