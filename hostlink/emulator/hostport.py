"""The silicon behind the C core's Linux port: model admission, camera and inference, served to
``firmware/ports/host/hl-host`` over its stdin/stdout (protocols/hostport.py).

    python -m hostlink.emulator.hostport --board coralmicro [--camera SRC] [--engine litert|tflm]

The port starts this itself (``hl-host --backend "..."``). It reuses the emulator's pieces, so the C
core meets exactly the admission rules, camera frames and LiteRT results the Python emulator
gives: ``EmulatedBackend.load`` (analysis, tflite-micro arena, per-board checks, engine),
``Camera.read`` and ``prepare_input``. Timing is not modelled here: the C core stamps each stage
with its own clock around these calls, as firmware on a board does.
"""
from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .. import protocols as P
from ..errors import HostlinkError
from ..protocols import hostport as H
from ..protocols import messages as M
from .board import EmulatedBackend
from .camera import open_camera, prepare_input
from .core import BoardError, LoadedModel
from .profiles import get_profile

_REQ_HEAD = 5  # op u8 + body length u32 (protocols/hostport.py PortRequest)


class HostPortHelper:
    """Answers one PortRequest at a time; ``handle(op, body) -> (ErrorCode, reply body)``."""

    def __init__(self, board: str, camera: str | None = None, engine: str = "litert"):
        self.profile = get_profile(board)
        self.backend = EmulatedBackend(self.profile, open_camera(camera), engine=engine, serial="HLHOST0001")
        self.active: LoadedModel | None = None
        self.candidate: LoadedModel | None = None
        self.frame: np.ndarray | None = None
        self.outputs: list[bytes] = []

    def handle(self, op: int, body: bytes) -> tuple[P.ErrorCode, bytes]:
        try:
            handler = getattr(self, "_" + H.PortOp(op).name.lower())
        except ValueError:
            return P.ErrorCode.INTERNAL, H.PortError.build(dict(message=f"unknown host-port op {op}"))
        try:
            return P.ErrorCode.OK, handler(body)
        except BoardError as err:
            return err.code, H.PortError.build(dict(message=err.message[:4000]))
        except HostlinkError as err:
            return P.ErrorCode.INTERNAL, H.PortError.build(dict(message=err.message[:4000]))

    # ------------------------------------------------------------------ ops
    def _info(self, body: bytes) -> bytes:
        info = dict(self.backend.device_info())
        info.update(proto_version=P.VERSION, max_payload=self.profile.max_payload)
        return H.PortInfo.build(dict(device=info, model_store_bytes=self.profile.limits.model_store_bytes))

    def _load(self, body: bytes) -> bytes:
        req = H.LoadRequest.parse(body)
        fmt = P.ModelFormat[str(req.format)]
        data = Path(req.path).read_bytes()
        if zlib.crc32(data) & 0xFFFFFFFF != req.crc32:
            raise BoardError(P.ErrorCode.MODEL_CRC_MISMATCH, f"staged file {req.path} does not match CRC {req.crc32:08x}")
        self.candidate = self.backend.load(data, fmt, req.name, req.crc32)
        return model_info_payload(self.candidate)

    def _activate(self, body: bytes) -> bytes:
        if self.candidate is None:
            raise BoardError(P.ErrorCode.NO_UPLOAD, "ACTIVATE without a prepared model")
        self.active, self.candidate = self.candidate, None
        self.frame = None
        return b""

    def _model(self) -> LoadedModel:
        if self.active is None:
            raise BoardError(P.ErrorCode.NO_MODEL, "no model is active in the host-port helper")
        return self.active

    def _sensor(self, body: bytes) -> bytes:
        index = H.SensorRequest.parse(body).index
        try:
            self.frame = self.backend.camera.read(index)
        except HostlinkError as err:
            raise BoardError(P.ErrorCode.CAMERA_FAILED, err.message) from None
        return b""

    def _preprocess(self, body: bytes) -> bytes:
        spec = self._model().inputs[0]
        if self.frame is None:
            raise BoardError(P.ErrorCode.CAMERA_FAILED, "PREPROCESS before SENSOR: no frame was exposed")
        x = prepare_input(self.frame, spec.shape, spec.numpy_dtype, spec.scale, spec.zero_point)
        return np.ascontiguousarray(x).tobytes()

    def _invoke(self, body: bytes) -> bytes:
        model = self._model()
        raw = H.InvokeRequest.parse(body).inputs
        if len(raw) != len(model.inputs):
            raise BoardError(P.ErrorCode.INPUT_MISMATCH, f"the model has {len(model.inputs)} input(s), got {len(raw)}")
        inputs = []
        for spec, data in zip(model.inputs, raw):
            if len(data) != spec.nbytes:
                raise BoardError(P.ErrorCode.INPUT_MISMATCH, f"input {spec.name} needs {spec.nbytes} bytes, got {len(data)}")
            inputs.append(np.frombuffer(data, dtype=spec.numpy_dtype).reshape(spec.shape))
        engine = model.handle[0]
        try:
            outs = engine.run(inputs)
        except Exception as exc:  # the interpreter's message is what the host needs to see
            raise BoardError(P.ErrorCode.INFERENCE_FAILED, f"inference failed: {exc}") from None
        self.outputs = [np.ascontiguousarray(o, dtype=s.numpy_dtype).tobytes() for s, o in zip(model.outputs, outs)]
        return b""

    def _outputs(self, body: bytes) -> bytes:
        return H.Tensors.build(self.outputs)


def model_info_payload(m: LoadedModel) -> bytes:
    def spec(s):
        return dict(name=s.name[:255], dtype=s.dtype.upper(), shape=list(s.shape), scale=s.scale,
                    zero_point=s.zero_point)

    return M.ModelInfo.build(dict(
        loaded=True, name=m.name[:255], format=m.format.name, size=m.size, crc32=m.crc32,
        arena_bytes=m.arena_bytes, macs=m.macs, expected_frame_us=m.expected_frame_us, engine=m.engine[:255],
        inputs=[spec(s) for s in m.inputs], outputs=[spec(s) for s in m.outputs]))


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        part = stream.read(n - len(buf))
        if not part:
            return None
        buf += part
    return bytes(buf)


def serve(helper: HostPortHelper, rx: BinaryIO, tx: BinaryIO) -> None:
    """Answer requests until the port closes the pipe."""
    while True:
        head = _read_exact(rx, _REQ_HEAD)
        if head is None:
            return
        op, length = head[0], int.from_bytes(head[1:5], "little")
        body = _read_exact(rx, length) if length else b""
        if body is None:
            return
        status, reply = helper.handle(op, body)
        tx.write(H.PortReply.build(dict(status=status.name, body=reply)))
        tx.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hostlink.emulator.hostport", description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="coralmicro", help="emulator profile whose rules and engine to use")
    ap.add_argument("--camera", default=None, help="pattern (default), a webcam index, video, image, dir or glob")
    ap.add_argument("--engine", default="litert", choices=("litert", "tflm"))
    args = ap.parse_args(argv)
    try:
        helper = HostPortHelper(args.board, args.camera, args.engine)
    except HostlinkError as err:
        print(f"hostport helper: {err}", file=sys.stderr)
        return 2
    serve(helper, sys.stdin.buffer, sys.stdout.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
