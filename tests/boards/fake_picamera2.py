"""picamera2 replaced by a fake for the IMX500 agent tests.

``IMX500(path)`` reads the network package the way the real one does (it must be a parseable
.rpk); ``Picamera2`` hands out requests whose metadata carries what libcamera exports for the
IMX500: CnnOutputTensor (float32, outputs concatenated, each flattened in Fortran order),
CnnOutputTensorInfo (raw bytes), CnnKpiInfo (dnn, dsp runtimes in µs), SensorTimestamp (ns) and
ExposureTime (µs). The first ``loading_frames`` frames carry no inference, as while the network
firmware is still loading.
"""
from types import SimpleNamespace

import numpy as np

from hostlink.protocols import imx500_rpk, imx500_tensors


class FakeSensor:
    def __init__(self, clock_ns, shapes=((4, 10), (10,), (1,)), loading_frames=3, frame_ns=33_333_333,
                 kpi=(13_960, 12_360), exposure_us=8_000, readout_us=2_000):
        self.clock_ns = clock_ns  # a FakeNs; the fake advances it frame by frame
        self.shapes = [tuple(s) for s in shapes]
        self.loading_frames = loading_frames
        self.frame_ns, self.kpi, self.exposure_us, self.readout_us = frame_ns, kpi, exposure_us, readout_us
        self.frames = 0
        self.started_with = None
        self.loaded = []
        self.never_infers = False
        self.fail_start = None
        self.last_outputs: list[np.ndarray] = []

    def outputs_for(self, n: int) -> list[np.ndarray]:
        rng = np.random.default_rng(n)
        return [rng.standard_normal(s).astype(np.float32) for s in self.shapes]

    def module(self):
        sensor = self

        class IMX500:
            def __init__(self, path):
                with open(path, "rb") as fh:
                    self.package = imx500_rpk.parse_rpk(fh.read())
                sensor.loaded.append(path)
                self.camera_num = 0

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
                self.running = True

            def capture_request(self):
                assert self.running
                sensor.frames += 1
                sensor.clock_ns.advance(sensor.frame_ns)  # wait for the next frame slot
                t0 = sensor.clock_ns()
                md = {"SensorTimestamp": t0, "ExposureTime": sensor.exposure_us}
                if sensor.frames > sensor.loading_frames and not sensor.never_infers:
                    outs = sensor.outputs_for(sensor.frames)
                    sensor.last_outputs = outs
                    md["CnnOutputTensor"] = np.concatenate([o.ravel(order="F") for o in outs]).tolist()
                    md["CnnOutputTensorInfo"] = imx500_tensors.build_output_tensor_info("fake_net", sensor.shapes)
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
