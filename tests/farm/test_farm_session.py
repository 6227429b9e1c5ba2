"""A session across a farm: four places on two exporters measured in parallel; one exporter dies
mid-session; resume finishes its boards' windows on spare places; every place ends released.

Real labgrid coordinator and exporters on loopback, emulated boards paced in real time, each with
an emulated PPK2 read by hostlink's real PPK2 driver over TCP.
"""
import hashlib
import json
import subprocess
import time
from pathlib import Path

import yaml

from hostlink.farm.coordinator import Coordinator

from .farm_fixtures import BIN

CORAL = "coralmicro?path=edgetpu"  # the Edge TPU path: 34.4 ms frames, as the paper measured
WINDOWS, FRAMES = 4, 12
# a loaded 2-core CI machine runs two exporters' real-time boards, the session and the coordinator
HOSTLINK = [str(BIN / "hostlink"), "--timeout-scale", "4"]


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("window_*"))}


def test_farm_session_survives_a_dead_exporter_and_resumes_on_spares(farm, tmp_path):
    a = farm.export("fa", "imx500", CORAL)
    b = farm.export("fb", "imx500", CORAL)
    plan = {"name": "farm", "model": "tinytracker_int8.tflite", "warmup_frames": 2,
            "frames_per_window": FRAMES, "windows": WINDOWS,
            "boards": [{"port": f"labgrid://{p}"} for p in list(a) + list(b)]}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    out = tmp_path / "out"
    run = subprocess.Popen(HOSTLINK + ["session", "run", str(tmp_path / "plan.yaml"), "--out", str(out),
                            "--no-progress"], env=farm.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # kill exporter fb once its Coral has completed a window, long before it could finish
    victim = next(p for p, kind in b.items() if kind == "coralmicro")
    deadline = time.monotonic() + 120
    while not list(out.glob(f"*/{victim}/window_001.json")):
        assert run.poll() is None, run.stderr.read()
        assert time.monotonic() < deadline, "no window completed on the farm"
        time.sleep(0.02)
    farm.kill("fb")
    _, err = run.communicate(timeout=180)
    assert run.returncode != 0
    assert "Traceback" not in err
    assert "continue with: hostlink session resume" in err
    session = next(out.iterdir())
    state = json.loads((session / "state.json").read_text())
    for place in a:  # the other exporter's boards finished
        assert len(state["windows"][place]) == WINDOWS
    kept = {p: digests(session / p) for p in b}
    done_b = {p: len(state["windows"].get(p, [])) for p in b}
    assert 1 <= done_b[victim] < WINDOWS

    spares = farm.export("fc", "imx500", CORAL)
    args = HOSTLINK + ["session", "resume", str(session), "--no-progress", "--json"]
    for p in spares:
        args += ["--spare", f"labgrid://{p}"]
    res = subprocess.run(args, env=farm.env(), capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    state = json.loads((session / "state.json").read_text())
    assert state["status"] == "complete"
    assert set(state["moves"]) == set(b) and set(state["moves"].values()) == {f"labgrid://{p}" for p in spares}
    for place in list(a) + list(b):
        assert state["windows"][place] == list(range(1, WINDOWS + 1))
    for place, before in kept.items():  # windows kept from the dead exporter are untouched
        after = digests(session / place)
        assert {k: after[k] for k in before} == before
    frames = json.loads((session / "frames.json").read_text())
    seen = {}
    for row in frames if isinstance(frames, list) else frames["rows"]:
        key = (row["board"], row["window"], row["frame"])
        seen.setdefault(key, set()).add(row["stage"])
    for place in list(a) + list(b):  # every frame exactly once: WINDOWS x FRAMES per board
        assert sum(1 for k in seen if k[0] == place) == WINDOWS * FRAMES
    with Coordinator(farm.address) as c:
        assert all(p.acquired is None for p in c.places())
