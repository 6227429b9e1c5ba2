"""A session across a labgrid farm: four boards in parallel against the slowest board alone.

    python bench/bench_farm.py [--windows 5] [--frames 40] [--json]

A real labgrid coordinator and two ``hostlink farm export`` exporter hosts on loopback, each with an
emulated IMX500 and an emulated Coral Dev Board Micro (Edge TPU path) paced in real time, each
board with an emulated PPK2 read by hostlink's PPK2 driver over TCP. The same plan runs once on all
four places (one worker per place) and once on the slowest board's place alone.

Reported: wall time of each session (connect, upload, warm-up, windows, analysis, tables), their
ratio (target <= 1.3), and the physical floor measured in the same run: the frames' own modelled
time on the slowest board, which no host can beat.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hostlink.farm.local import LocalFarm  # noqa: E402
from hostlink.session import run_session  # noqa: E402
from hostlink.session.plan import Plan  # noqa: E402

CORAL = "coralmicro?path=edgetpu"
TARGET = 1.3


def session(ports: list[str], args, out: Path) -> tuple[float, dict]:
    plan = Plan.from_dict({"name": "bench", "model": "tinytracker_int8.tflite", "warmup_frames": args.warmup,
                           "frames_per_window": args.frames, "windows": args.windows,
                           "boards": [{"port": p} for p in ports]})
    t0 = time.perf_counter()
    _, summary = run_session(plan, out, progress=False)
    return time.perf_counter() - t0, summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, LocalFarm(Path(tmp) / "farm") as farm:
        os.environ.update(LG_COORDINATOR=farm.address, XDG_STATE_HOME=str(farm.workdir / "state"))
        places = {**farm.export("host-a", "imx500", CORAL), **farm.export("host-b", "imx500", CORAL)}
        ports = [f"labgrid://{p}" for p in places]
        all_s, summary = session(ports, args, Path(tmp) / "all")
        totals = {label: b["total_ms"] for label, b in summary["boards"].items()} if summary["boards"] and \
            "total_ms" in next(iter(summary["boards"].values())) else {}
        slowest = next(p for p, kind in places.items() if kind == "coralmicro")
        one_s, one = session([f"labgrid://{slowest}"], args, Path(tmp) / "one")
    frame_ms = 34.4  # the Coral Micro's modelled frame on the Edge TPU path (docs/timing-model.md)
    floor_s = (args.warmup + args.windows * args.frames) * frame_ms / 1000
    result = {"boards": len(ports), "windows": args.windows, "frames_per_window": args.frames,
              "four_boards_s": round(all_s, 2), "slowest_alone_s": round(one_s, 2),
              "ratio": round(all_s / one_s, 3), "target": TARGET, "slowest_frames_floor_s": round(floor_s, 2),
              "per_board_total_ms": totals, "host": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "load_avg": [round(x, 1) for x in os.getloadavg()]}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"farm session, {len(ports)} places on 2 exporters, {args.windows} windows x {args.frames} frames "
          f"(+{args.warmup} warm-up), real-time emulated boards with emulated PPK2s over TCP")
    print(f"  4 boards in parallel      {all_s:7.2f} s")
    print(f"  slowest board alone       {one_s:7.2f} s   (its frames alone take {floor_s:.2f} s)")
    print(f"  ratio                     {all_s / one_s:7.3f}   (target <= {TARGET})")
    print(f"  machine: {result['cpus']} CPUs, load average {result['load_avg'][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
