"""PPK2 decode throughput against the `ppk2-api` package, live ingest CPU, emulated 1 MS/s stream.

    python bench/bench_ppk2_decode.py [--seconds 60] [--live-s 10] [--emulated-s 5]

1. A 60 s PPK2 stream (6 M sample words, 24 MB) is recorded once from the fake PPK2 encoding an
   IMX500 TinyTracker timeline (ranges switching at every stage edge, noise, marker bits) and kept
   in a temp file. Both decoders get the same bytes: hostlink's vectorised decoder and the
   `ppk2-api` package's `get_samples` (pip install 'hostlink[bench]'). Currents must be identical
   (as float32); the table shows the time of each and the ratio.
2. Live ingest: a fake PPK2 in another process streams 100 kS/s into a pseudo-terminal; the real
   driver reads and decodes it. CPU time of this process / wall time = share of one core.
3. An emulated JS220 at 1 MS/s on a real-time emulated board running TinyTracker frames: every
   sample must arrive (count = duration x rate, nothing MISSING); CPU of the reading thread.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hostlink.power.emulated import BoardSignal  # noqa: E402
from hostlink.power.fake_ppk2 import FAKE_METADATA, Ppk2Encoder  # noqa: E402
from hostlink.power.ppk2_decode import Ppk2Calibration, Ppk2Decoder  # noqa: E402
from hostlink.protocols import ppk2 as proto  # noqa: E402


@dataclass(frozen=True)
class Span:
    start_us: float
    end_us: float
    stage: int
    power_mw: float


class RecordedBoard:
    """A finished timeline: TinyTracker on the IMX500 (17.9 / 0.86 / 0.24 ms) with idle gaps."""

    def __init__(self, seconds: float, seed: int = 0):
        from hostlink.emulator.profiles import get_profile

        prof = get_profile("imx500")
        self.profile = prof
        rng = np.random.default_rng(seed)
        stages = [(1, 17900.0, 266.8), (3, 860.0, 69.8), (4, 240.0, 266.8)]
        t, spans = 0.0, []
        while t < seconds * 1e6:
            idle = float(rng.uniform(200, 2000))
            spans.append(Span(t, t + idle, 0, prof.idle_mw))
            t += idle
            for sid, dur, mw in stages:
                spans.append(Span(t, t + dur, sid, mw))
                t += dur
        self.timeline = spans
        self.clock_us = t


def record_stream(seconds: float) -> bytes:
    path = Path(tempfile.gettempdir()) / f"hostlink_ppk2_stream_{int(seconds)}s_v1.bin"
    if path.is_file():
        return path.read_bytes()
    board = RecordedBoard(seconds)
    sig = BoardSignal(board, proto.SAMPLE_RATE_HZ, t0_us=0.0)
    cal = Ppk2Calibration.from_metadata(FAKE_METADATA)
    enc = Ppk2Encoder(cal, 3300)
    rng = np.random.default_rng(1)
    n = int(seconds * proto.SAMPLE_RATE_HZ)
    chunks = []
    for start in range(0, n, 1_000_000):
        k = min(1_000_000, n - start)
        power, code = sig.render(start, k)
        current = power / 3.3 + rng.standard_normal(k) * 30e-6
        chunks.append(enc.encode(current, code, start).astype("<u4").tobytes())
    data = b"".join(chunks)
    path.write_bytes(data)
    return data


def bench_decode(raw: bytes, repeats: int = 3):
    cal = Ppk2Calibration.from_metadata(FAKE_METADATA)
    best = float("inf")
    out = None
    for _ in range(repeats):
        dec = Ppk2Decoder(cal, 3300)
        t = time.perf_counter()
        out = dec.feed(raw)
        best = min(best, time.perf_counter() - t)
    # the live path: 16 KiB reads, words split across reads
    dec = Ppk2Decoder(cal, 3300)
    t = time.perf_counter()
    parts = [dec.feed(raw[i:i + 16381]) for i in range(0, len(raw), 16381)]
    chunked = time.perf_counter() - t
    assert np.array_equal(np.concatenate(parts), out)
    return out, best, chunked


def bench_peer(raw: bytes):
    try:
        import serial
        from ppk2_api.ppk2_api import PPK2_API
    except ImportError:
        return None, None

    class _NoPort:  # the package opens a port in its constructor; the decoder needs none
        baudrate = 0

        def close(self):
            pass

    real = serial.Serial
    serial.Serial = lambda *a, **k: _NoPort()
    try:
        api = PPK2_API("unused")
    finally:
        serial.Serial = real
    api.current_vdd = 3300
    api._parse_metadata(proto.format_metadata(FAKE_METADATA).decode())
    t = time.perf_counter()
    samples, _bits = api.get_samples(raw)
    return np.asarray(samples), time.perf_counter() - t


def bench_live(seconds: float):
    from hostlink.power.ppk2 import Ppk2Monitor

    proc = subprocess.Popen([sys.executable, "-m", "hostlink.power.fake_ppk2", "--seconds", str(seconds + 5)],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            cwd=str(Path(__file__).resolve().parent.parent))
    try:
        path = proc.stdout.readline().strip()
        mon = Ppk2Monitor(path)
        with mon:
            mon.set_dut_power(True)
            mon.start()
            got = 0
            c0, w0 = time.process_time(), time.perf_counter()
            while time.perf_counter() - w0 < seconds:
                b = mon.read(timeout=0.1)
                got += 0 if b is None else len(b.samples)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            mon.stop()
        return got, wall, cpu, mon.stats
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def bench_emulated(seconds: float):
    import hostlink
    from hostlink.power import open_monitor
    from hostlink.session.plan import resolve_model

    with hostlink.connect("emu:imx500?realtime=1") as dev:
        dev.upload(str(resolve_model("tinytracker_int8.tflite")))
        mon = open_monitor("emulated://js220", board=dev.link.board)
        stop = threading.Event()

        def frames():
            while not stop.is_set():
                dev.capture(count=5)

        with mon:
            mon.start()
            worker = threading.Thread(target=frames, daemon=True)
            worker.start()
            got = missing = backlog = 0
            try:
                c0, w0 = time.thread_time(), time.perf_counter()
                while time.perf_counter() - w0 < seconds:
                    b = mon.read(timeout=0.05)
                    if b is not None:
                        got += len(b.samples)
                        missing += int((b.samples["flags"] & 1).sum())
                    backlog = max(backlog, mon._signal.available() - mon._next_index)
                cpu = time.thread_time() - c0
            finally:
                stop.set()
                worker.join()
            for b in mon.read_available():
                got += len(b.samples)
                missing += int((b.samples["flags"] & 1).sum())
            lived = mon._next_index  # samples the board clock had passed at the last read
        return got, missing, lived / 1e6, backlog / 1e3, cpu, time.perf_counter() - w0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the recorded PPK2 stream")
    ap.add_argument("--live-s", type=float, default=10.0)
    ap.add_argument("--emulated-s", type=float, default=5.0)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPU(s), {sys.platform}, Python {sys.version.split()[0]}, numpy {np.__version__}")

    raw = record_stream(args.seconds)
    n = len(raw) // 4
    ours, t_ours, t_chunked = bench_decode(raw)
    ref, t_ref = bench_peer(raw)
    print(f"\nPPK2 decode: {args.seconds:.0f} s stream, {n / 1e6:.1f} M samples, {len(raw) / 1e6:.0f} MB")
    print(f"{'decoder':44s} {'time s':>9s} {'M samples/s':>12s} {'vs ppk2-api':>12s}")
    rows = [("hostlink (one read)", t_ours), ("hostlink (16 KiB reads, as live)", t_chunked)]
    if ref is not None:
        rows.append(("ppk2-api 0.9 get_samples (same bytes)", t_ref))
    for name, t in rows:
        ratio = f"{t_ref / t:10.0f}x" if ref is not None else "-"
        print(f"{name:44s} {t:9.3f} {n / t / 1e6:12.1f} {ratio:>12s}")
    print(f"{'real-time need (100 kS/s)':44s} {n / 1e5:9.1f} {0.1:12.1f}")
    if ref is not None:
        theirs = (ref / 1e6).astype(np.float32)
        same = int((theirs == ours["current_a"]).sum())
        diff = float(np.max(np.abs(theirs.astype(np.float64) - ours["current_a"])))
        print(f"currents identical (float32): {same} of {n} ({'yes' if same == n else 'NO'}); max |diff| {diff:.3g} A")
    else:
        print("ppk2-api not installed (pip install 'hostlink[bench]'): no peer comparison")

    got, wall, cpu, stats = bench_live(args.live_s)
    print(f"\nlive ingest through a pty at 100 kS/s for {wall:.1f} s: {got} samples "
          f"({got / wall / 1e3:.1f} kS/s), lost {stats.missing}, resyncs {stats.resyncs}; "
          f"CPU {cpu / wall * 100:.1f} % of one core (target < 10 %)")

    got, missing, lived, backlog_ms, cpu, wall = bench_emulated(args.emulated_s)
    expect = int(round(lived * 1e6))
    ok = missing == 0 and got == expect
    print(f"emulated JS220 at 1 MS/s on a real-time board for {lived:.2f} s: {got} samples of {expect} "
          f"lived, {missing} missing ({'no loss' if ok else 'LOSS'}), reader at most {backlog_ms:.0f} ms "
          f"behind; reader CPU {cpu / wall * 100:.1f} % of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
