"""Sessions killed at random points, with real signals, on real files: every file left is readable
and ``session resume`` completes with every frame exactly once.

Each attempt is a fresh process (forked from a warmed-up server, kill_child.py, so Python start-up
and imports are paid once) running ``hostlink session run`` or ``resume`` through the CLI on an
emulated IMX500 with tiny windows; after a random delay it gets SIGINT, SIGTERM or SIGKILL. After
every attempt the folder is checked file by file; at the end one last resume runs to completion
and the frames are counted. Seeded: the same delays and signals every run (where each kill lands
still depends on the machine's speed, which is the point).
"""
import csv
import io
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from hostlink.power import Trace
from hostlink.session.atomic import is_temporary

KILLS = 200
KILLS_PER_SESSION = 15
LANES = 6  # sessions killed side by side: most of an attempt is the random wait
WINDOWS, FRAMES = 6, 2
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
#: Exit statuses of a process the signal reached: handled (130 Ctrl-C, 143 SIGTERM, both after
#: writing state) or killed outright (-signal).
LANDED = {130, 143, -signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL}


class Server:
    """The fork server (kill_child.py) and a reader thread that hands each reply to its caller."""

    def __init__(self, cwd: Path):
        env = dict(os.environ, MPLBACKEND="Agg")
        self.log = cwd / "children.log"
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("kill_child.py")), str(self.log)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=cwd, env=env)
        first = self.proc.stdout.readline()
        if not first:
            raise RuntimeError(f"the fork server did not start: {self.proc.wait(timeout=30)}")
        self.lock = threading.Lock()
        self.replies: dict[int, queue.Queue] = {}
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            msg = json.loads(line)
            self.replies[msg["id"]].put(msg)

    def _ask(self, obj: dict, k: int) -> dict:
        with self.lock:
            self.proc.stdin.write((json.dumps(dict(obj, id=k)) + "\n").encode())
            self.proc.stdin.flush()
        return self.replies[k].get(timeout=120)

    def start(self, args: list[str]) -> tuple[int, int]:
        with self.lock:
            self.next_id += 1
            k = self.next_id
            self.replies[k] = queue.Queue()
        return k, self._ask({"args": args}, k)["pid"]

    def reap(self, k: int, pid: int) -> int:
        return self._ask({"reap": pid}, k)["status"]

    def run(self, args: list[str]) -> int:
        return self.reap(*self.start(args))

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def session_folders(out: Path) -> list[Path]:
    return [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")] if out.exists() else []


def check_readable(folder: Path) -> None:
    """Every file a session wrote loads: a kill may leave temporaries, never a torn file."""
    for p in folder.rglob("*"):
        if p.is_dir() or is_temporary(p):
            continue
        data = p.read_bytes()
        name = p.name
        if name.endswith(".json"):
            json.loads(data)
        elif name.endswith(".npz"):
            trace = Trace.load(p)
            assert trace.sample_rate_hz > 0
        elif name.endswith(".yaml"):
            yaml.safe_load(data)
        elif name.endswith(".csv"):
            rows = list(csv.DictReader(io.StringIO(data.decode())))
            assert all(r["stage"] for r in rows)
        elif name.endswith(".png"):
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[-8:-4] == b"IEND", p
        elif name.endswith(".md"):
            data.decode("utf-8")
        elif name.endswith(".log"):
            text = data.decode("utf-8")
            assert not text or text.endswith("\n"), p  # whole records only
        else:
            raise AssertionError(f"unexpected file {p}")
    assert (folder / "plan.yaml").is_file() and (folder / "state.json").is_file()


def check_exactly_once(folder: Path) -> None:
    state = json.loads((folder / "state.json").read_text())
    assert state["status"] == "complete", state
    rows = json.loads((folder / "frames.json").read_text())["rows"]
    keys = [(r["window"], r["frame"], r["stage"]) for r in rows]
    assert len(keys) == len(set(keys)), "a frame was recorded twice"
    windows = sorted({k[0] for k in keys})
    assert windows == list(range(1, WINDOWS + 1))
    for w in windows:
        doc = json.loads((folder / "imx500" / f"window_{w:03d}.json").read_text())
        assert sorted({r["frame"] for r in doc["rows"]}) == list(range(FRAMES))
        assert len(Trace.load(folder / "imx500" / f"window_{w:03d}.npz").samples) == doc["samples"]
    assert len(rows) == WINDOWS * FRAMES * 3  # capture, inference, transfer
    assert not [p for p in folder.rglob("*") if is_temporary(p)], "resume left temporaries"


def _args(out: Path, plan: Path) -> list[str]:
    folders = session_folders(out)
    assert len(folders) <= 1, folders
    if folders:
        return ["session", "resume", str(folders[0]), "--no-progress"]
    return ["session", "run", str(plan), "--out", str(out), "--no-progress"]


def test_sessions_survive_kills_at_random_points(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({
        "name": "k", "model": "tinytracker_int8.tflite", "warmup_frames": 0, "frames_per_window": FRAMES,
        "windows": WINDOWS, "settle_ms": 1, "boards": [{"port": "emu:imx500", "monitor": "emulated://ppk2"}]}))
    t0 = time.monotonic()
    server = Server(tmp_path)  # Python start-up, imports and one warm-up session: paid once
    t_server = time.monotonic() - t0
    # One clean run times the phases on this machine: kills land anywhere from start-up to the
    # last window (most of them), or in the summary and plots after it (one in six).
    out = tmp_path / "clean"
    t = time.time()
    assert server.run(_args(out, plan)) == 0, server.log.read_text()[-3000:]
    t_end = time.time() - t
    folder = session_folders(out)[0]
    t_windows = (folder / "imx500" / f"window_{WINDOWS:03d}.json").stat().st_mtime - t
    check_exactly_once(folder)

    def delay(rng: random.Random) -> float:
        return rng.uniform(0.0, t_windows) if rng.random() < 5 / 6 else rng.uniform(t_windows, t_end)

    lock = threading.Lock()
    tally = {"kills": 0, "sessions": 0, **{s.name: 0 for s in SIGNALS}}
    failures: list[BaseException] = []

    def lane(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while not failures:
                with lock:
                    if tally["kills"] >= KILLS:
                        return
                    tally["sessions"] += 1
                    out = tmp_path / f"s{tally['sessions']}"
                for _ in range(KILLS_PER_SESSION):
                    if tally["kills"] >= KILLS:
                        break
                    args = _args(out, plan)
                    sig = rng.choice(SIGNALS)
                    k, pid = server.start(args)
                    time.sleep(delay(rng))
                    os.kill(pid, sig)  # not reaped until we ask: the pid is still this child
                    status = server.reap(k, pid)
                    assert status in LANDED | {0}, (args, status, server.log.read_text()[-2000:])
                    if status != 0:
                        with lock:
                            tally["kills"] += 1
                            tally[sig.name] += 1
                    for folder in session_folders(out):
                        check_readable(folder)
                assert server.run(_args(out, plan)) == 0, server.log.read_text()[-3000:]
                (folder,) = session_folders(out)
                check_readable(folder)
                check_exactly_once(folder)
        except BaseException as err:  # reported by the main thread
            failures.append(err)

    threads = [threading.Thread(target=lane, args=(20261129 + i,)) for i in range(LANES)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        server.close()
    if failures:
        raise failures[0]
    assert tally["kills"] >= KILLS and all(tally[s.name] > 20 for s in SIGNALS), tally
    print(f"{tally['kills']} kills over {tally['sessions']} sessions in {time.monotonic() - t0:.1f} s, "
          f"{t_server:.1f} s of it starting the fork server "
          f"(a clean run: last window at {t_windows:.2f} s, done at {t_end:.2f} s): " + ", ".join(f"{s.name} {tally[s.name]}" for s in SIGNALS))
