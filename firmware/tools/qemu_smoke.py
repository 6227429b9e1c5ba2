#!/usr/bin/env python3
"""Boot a Cortex-M image in qemu-system-arm, talk protocol v1 to it over its UART pty, report.

    python firmware/tools/qemu_smoke.py --machine mps2-an500 firmware/build/cortex-m7/hl-qemu.elf

HELLO, MODEL_INFO, a frame behind garbage and a corrupted frame (resync), an upload of a small
TFLite model with commit, and the median request round trip. Exit status 0 only if all of it
behaves; the conformance suite (tests/conformance, board "c-qemu-m7") checks the details.
"""
import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hostlink import protocols as P  # noqa: E402
from hostlink.framing import Deframer, encode_frame  # noqa: E402
from hostlink.links import open_link  # noqa: E402
from hostlink.protocols import messages as M  # noqa: E402


class Session:
    def __init__(self, url: str):
        self.link = open_link(url)
        self.deframer = Deframer()
        self.pending = []

    def request(self, mtype, payload: bytes, seq: int, timeout: float = 10.0):
        self.link.write(encode_frame(mtype, 0, seq, payload))
        return self.reply(seq, timeout)

    def reply(self, seq: int, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for f in self.pending:
                if f.seq == seq and f.flags & P.Flag.RESPONSE:
                    self.pending.remove(f)
                    return f
            self.pending += self.deframer.feed(self.link.read(0.1))
        raise SystemExit(f"qemu smoke: no reply to seq {seq} within {timeout} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", required=True, help="mps2-an500 (Cortex-M7) or mps2-an386 (Cortex-M4F)")
    ap.add_argument("image")
    args = ap.parse_args()
    qemu = subprocess.Popen(["qemu-system-arm", "-M", args.machine, "-nographic", "-monitor", "none",
                             "-serial", "pty", "-kernel", args.image],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = qemu.stdout.readline()
        m = re.search(r"(/dev/pts/\d+)", line)
        if not m:
            raise SystemExit(f"qemu smoke: qemu did not report a serial pty: {line!r}")
        s = Session(m.group(1))
        f = s.request(P.MsgType.HELLO, M.Hello.build(dict(proto_min=1, proto_max=1, max_payload=4096)), 1)
        assert f.type == P.MsgType.DEVICE_INFO, f
        info = M.DeviceInfo.parse(f.payload)
        print(f"{args.machine}: {info.board_name}, fw {'.'.join(map(str, info.fw_version))}, "
              f"max payload {info.max_payload}, link {info.link_bps} bit/s")
        rtts = []
        for seq in range(2, 22):
            t = time.perf_counter()
            f = s.request(P.MsgType.MODEL_INFO, b"", seq)
            rtts.append(time.perf_counter() - t)
            assert f.type == P.MsgType.MODEL_INFO, f
        bad = bytearray(encode_frame(P.MsgType.MODEL_INFO, 0, 30, b""))
        bad[-1] ^= 1
        s.link.write(b"\x00HL\x01noise" + bytes(bad) + encode_frame(P.MsgType.MODEL_INFO, 0, 31, b""))
        assert s.reply(31).type == P.MsgType.MODEL_INFO
        assert not any(f.seq == 30 for f in s.pending), "answered a corrupted frame"
        from hostlink.testing.synth_models import tiny_int8_model
        import zlib

        model = tiny_int8_model(seed=1)
        t = time.perf_counter()
        f = s.request(P.MsgType.MODEL_BEGIN, M.ModelBegin.build(
            dict(size=len(model), crc32=zlib.crc32(model), format="TFLITE", name="smoke")), 40)
        assert f.type == P.MsgType.ACK, f
        step = info.max_payload - 4
        for i, off in enumerate(range(0, len(model), step)):
            f = s.request(P.MsgType.MODEL_CHUNK, M.ModelChunk.build(dict(offset=off, data=model[off:off + step])), 41 + i)
            assert f.type == P.MsgType.ACK, f
        f = s.request(P.MsgType.MODEL_COMMIT, M.ModelCommit.build(dict(crc32=zlib.crc32(model))), 1000)
        assert f.type == P.MsgType.MODEL_INFO and M.ModelInfo.parse(f.payload).loaded, f
        dt = time.perf_counter() - t
        print(f"{args.machine}: median round trip {statistics.median(rtts) * 1e3:.2f} ms; resync ok; "
              f"{len(model)}-byte model uploaded and committed in {dt:.2f} s ({len(model) / dt / 1024:.1f} KB/s)")
        return 0
    finally:
        qemu.terminate()
        qemu.wait(10)


if __name__ == "__main__":
    sys.exit(main())
