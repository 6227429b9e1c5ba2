#!/usr/bin/env python3
"""Write protocols/vectors/*.hex: one golden frame per file, built from the construct declarations.

Each file holds comment lines (``#``) naming the message and giving its decoded fields as JSON
(``# decoded: {...}``), then the whole frame as hex. The Python tests decode and re-encode them;
the C firmware tests decode the same files. ``--check`` fails if a file would change.

    python tools/gen_vectors.py [--check]
"""
import argparse
import json
import sys
from pathlib import Path

from hostlink.protocols import Flag, Frame, MsgType, payload_struct
from hostlink.protocols.frame import VERSION

OUT = Path(__file__).resolve().parent.parent / "protocols" / "vectors"

SPEC_IN = dict(name="input", dtype="INT8", shape=[1, 112, 112, 5], scale=0.0078125, zero_point=-1)
SPEC_OUT = dict(name="gaze", dtype="FLOAT32", shape=[1, 2], scale=0.0, zero_point=0)

# (file stem, type, flags, seq, fields)
VECTORS = [
    ("hello", MsgType.HELLO, 0, 1, dict(proto_min=1, proto_max=1, max_payload=1048576)),
    ("device_info", MsgType.DEVICE_INFO, Flag.RESPONSE, 1, dict(
        board="IMX500", board_name="Sony IMX500", serial="EMU0001", fw_version=[0, 1, 0], proto_version=1,
        capabilities=dict(SENSOR_CAPTURE=True, HOST_INPUT=True, MARKERS=True, EMULATED=True, REALTIME=False, EDGETPU=False),
        max_payload=65536, clock_hz=1000000, link_bps=0,
        formats=dict(tflite=True, edgetpu_tflite=False, imx500_packerout=False, imx500_rpk=False),
        memory=[dict(name="on_chip", size=8388608)], stages=["CAPTURE", "INFERENCE", "TRANSFER"])),
    ("ack", MsgType.ACK, Flag.RESPONSE, 7, dict(value=4096)),
    ("nak", MsgType.NAK, Flag.RESPONSE, 8, dict(code="BUSY", detail="capture in progress")),
    ("error", MsgType.ERROR, Flag.RESPONSE, 9, dict(code="MODEL_NOT_INT8", message="CONV_2D runs in float32")),
    ("log", MsgType.LOG, Flag.EVENT, 3, dict(level="INFO", time_us=123456789, text="model active")),
    ("reset", MsgType.RESET, 0, 10, dict(mode="SOFT")),
    ("model_begin", MsgType.MODEL_BEGIN, 0, 2, dict(size=600000, crc32=0xDEADBEEF, format="TFLITE", name="tinytracker")),
    ("model_chunk", MsgType.MODEL_CHUNK, 0, 3, dict(offset=4092, data=bytes(range(16)))),
    ("model_commit", MsgType.MODEL_COMMIT, 0, 4, dict(crc32=0xDEADBEEF)),
    ("model_info_request", MsgType.MODEL_INFO, 0, 5, dict()),
    ("model_info", MsgType.MODEL_INFO, Flag.RESPONSE, 5, dict(
        loaded=True, name="tinytracker", format="TFLITE", size=600000, crc32=0xDEADBEEF, arena_bytes=180224,
        macs=11800000, expected_frame_us=19000, engine="imx500-dsp", inputs=[SPEC_IN], outputs=[SPEC_OUT])),
    ("capture", MsgType.CAPTURE, 0, 11, dict(count=10, period_us=33333, source="SENSOR", options=dict(return_input=False))),
    ("input", MsgType.INPUT, 0, 12, dict(index=0, total=62720, offset=0, data=bytes([0x80, 0x7F, 0x00, 0x01]))),
    ("result", MsgType.RESULT, Flag.RESPONSE, 11, dict(
        frame=0, count=10,
        stages=[dict(stage="CAPTURE", start=1000, end=18900), dict(stage="INFERENCE", start=18900, end=19760),
                dict(stage="TRANSFER", start=19760, end=20000)],
        outputs=[dict(spec=SPEC_OUT, data=bytes.fromhex("0000a0400000c0c0"))])),
    ("result_fragment", MsgType.RESULT, Flag.RESPONSE | Flag.MORE, 11, None),  # raw bytes, see below
]


def _jsonable(obj):
    if isinstance(obj, bytes):
        return {"hex": obj.hex()}
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    return obj


def build(mtype, flags, seq, fields) -> tuple[bytes, bytes]:
    if fields is None:
        payload = bytes(range(32))  # a fragment carries opaque bytes of a larger message
    else:
        payload = payload_struct(mtype, bool(flags & Flag.RESPONSE)).build(fields)
    header = dict(magic=b"HL", version=VERSION, type=int(mtype), flags=int(flags), reserved=0, seq=seq, length=len(payload))
    frame = Frame.build(dict(body=dict(value=dict(header=dict(fields=dict(value=header)), payload=payload))))
    return frame, payload


def render(stem, mtype, flags, seq, fields) -> str:
    frame, payload = build(mtype, flags, seq, fields)
    lines = [f"# {stem}: {mtype.name} flags=0x{int(flags):02x} seq={seq} payload={len(payload)} bytes",
             f"# header: type=0x{int(mtype):02x} flags=0x{int(flags):02x} seq={seq} length={len(payload)}",
             f"# decoded: {json.dumps(_jsonable(fields if fields is not None else {'raw': payload}), sort_keys=True)}"]
    hexs = frame.hex()
    lines += [" ".join(hexs[i:i + 2] for i in range(j, min(j + 64, len(hexs)), 2)) for j in range(0, len(hexs), 64)]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if any vector file is missing or stale")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for stem, mtype, flags, seq, fields in VECTORS:
        path = OUT / f"{stem}.hex"
        text = render(stem, mtype, flags, seq, fields)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale golden vectors: {', '.join(stale)}; run python tools/gen_vectors.py", file=sys.stderr)
        return 1
    if not args.check:
        print(f"wrote {len(VECTORS)} vectors to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
