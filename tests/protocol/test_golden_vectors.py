"""The golden vectors in protocols/vectors/*.hex decode to their JSON and re-encode to the same bytes.

File format (tools/gen_vectors.py writes it; the C firmware tests read the same files):
``# header: type=0xTT flags=0xFF seq=N length=N``, ``# decoded: {json}`` (bytes as {"hex": ...};
a fragment as {"raw": {"hex": ...}}), then the frame as hex, whitespace-separated.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hostlink import fastcodec
from hostlink import protocols as P
from hostlink.framing import Deframer, encode_frame
from hostlink.protocols import messages as M
from hostlink.protocols.frame import Frame

from protocol_strategies import normalize, normalize_input

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "protocols" / "vectors"
FILES = sorted(VECTORS.glob("*.hex"))
HEADER_RE = re.compile(r"type=0x([0-9a-f]{2}) flags=0x([0-9a-f]{2}) seq=(\d+) length=(\d+)")


def _unhex(obj):
    if isinstance(obj, dict):
        if set(obj) == {"hex"}:
            return bytes.fromhex(obj["hex"])
        return {k: _unhex(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unhex(v) for v in obj]
    return obj


def _load(path: Path):
    header = decoded = None
    hex_parts = []
    for line in path.read_text().splitlines():
        if line.startswith("# header:"):
            m = HEADER_RE.search(line)
            header = dict(type=int(m[1], 16), flags=int(m[2], 16), seq=int(m[3]), length=int(m[4]))
        elif line.startswith("# decoded:"):
            decoded = _unhex(json.loads(line[len("# decoded:"):]))
        elif line.startswith("#") or not line.strip():
            continue
        else:
            hex_parts.append(line)
    assert header is not None and decoded is not None, f"{path.name}: missing '# header:' or '# decoded:'"
    return header, decoded, bytes.fromhex("".join(hex_parts))


def test_vectors_exist_for_every_payload():
    assert FILES, f"no golden vectors in {VECTORS}"
    covered = set()
    for path in FILES:
        header, decoded, _ = _load(path)
        if "raw" not in decoded:
            covered.add((P.MsgType(header["type"]), bool(header["flags"] & P.Flag.RESPONSE)))
    assert covered == set(M.PAYLOADS)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_vector_decodes_and_reencodes(path):
    header, decoded, wire = _load(path)
    frames = Deframer().feed(wire)
    assert len(frames) == 1, "the vector is not exactly one valid frame"
    f = frames[0]
    assert (f.type, f.flags, f.seq, len(f.payload), f.version) == (
        header["type"], header["flags"], header["seq"], header["length"], P.VERSION)
    c = Frame.parse(wire)  # the construct declaration agrees (and checks both CRCs)
    assert c.body.value.payload == f.payload
    if "raw" in decoded:  # a fragment: opaque bytes of a larger message
        assert f.flags & P.Flag.MORE
        assert f.payload == decoded["raw"]
    else:
        key = (P.MsgType(f.type), bool(f.flags & P.Flag.RESPONSE))
        struct_ = P.payload_struct(*key)
        assert normalize(struct_.parse(f.payload)) == normalize_input(key, decoded)
        assert struct_.build(decoded) == f.payload
    assert encode_frame(f.type, f.flags, f.seq, f.payload) == wire


def test_result_vector_through_fastcodec():
    _, decoded, wire = _load(VECTORS / "result.hex")
    (f,) = Deframer().feed(wire)
    frame, count, stages, outputs = fastcodec.decode_result(f.payload)
    assert (frame, count) == (decoded["frame"], decoded["count"])
    assert stages == [(s["stage"].lower(), s["start"], s["end"]) for s in decoded["stages"]]
    (name, dtype, shape, scale, zp, arr), = outputs
    o = decoded["outputs"][0]
    assert (name, dtype, list(shape), zp) == (o["spec"]["name"], o["spec"]["dtype"].lower(), o["spec"]["shape"],
                                              o["spec"]["zero_point"])
    assert arr.tobytes() == o["data"]


def test_generator_check_passes():
    """The checked-in files are exactly what tools/gen_vectors.py writes from the declarations."""
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_vectors.py"), "--check"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
