"""The session folder: everything a session produced, readable without hostlink's state.

    <out>/<UTC>_<name>/
      plan.yaml              the plan as run (resume reads it back)
      manifest.json          versions, devices, models, monitors, units, schema
      state.json             status (running | complete | interrupted | failed | invalid), reason,
                             completed windows per board
      transcript.log         what happened, with UTC times, device log lines included
      <board>/window_NNN.npz raw trace of each window (compressed; samples as in hostlink.power)
      <board>/window_NNN.json per-frame stage rows and the window's checks (written last: a window
                             counts as complete once its json exists)
      frames.csv, frames.json  every per-frame stage row of every board
      summary.json, summary.md  median/min/max/IQR per stage in ms, mW, mJ
      trace_<board>.png, energy.png

Nothing is parsed back from free text: resume and report read the json files.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
import platform
from pathlib import Path

import yaml

from ..errors import ConfigError
from .plan import Plan

SCHEMA = 1
UNITS = {"duration": "ms", "power": "mW", "energy": "mJ", "current": "A", "voltage": "V",
         "sample_index": "monitor samples since start"}

FRAME_FIELDS = [
    "board", "window", "frame", "stage", "stage_id", "start_index", "stop_index", "n_samples",
    "duration_ms", "device_ms", "mean_mw", "energy_mj", "energy_above_idle_mj", "err_bound_mj",
    "n_missing", "low_confidence",
]


def utc_stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d_%H%M%S")


def _write_json(path: Path, data) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return sorted(obj) if isinstance(obj, (set, frozenset)) else list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class SessionStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.log = logging.getLogger(f"hostlink.session.{id(self)}")
        self.log.propagate = False
        self.log.setLevel(logging.INFO)
        self._handler: logging.Handler | None = None

    # -- creation / reopening -------------------------------------------------------------------

    @classmethod
    def create(cls, out_dir: str | Path, plan: Plan) -> "SessionStore":
        base = Path(out_dir)
        path = base / f"{utc_stamp()}_{plan.name}"
        k = 1
        while path.exists():
            k += 1
            path = base / f"{utc_stamp()}_{plan.name}_{k}"
        path.mkdir(parents=True)
        store = cls(path)
        (path / "plan.yaml").write_text(yaml.safe_dump(plan.as_dict(), sort_keys=False))
        from .. import __version__
        import numpy

        _write_json(path / "manifest.json", {
            "schema": SCHEMA, "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(),
            "hostlink": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "platform": platform.platform(), "units": UNITS, "boards": {},
        })
        store.write_state({"status": "running", "reason": None, "windows": {}})
        return store

    @classmethod
    def open(cls, path: str | Path) -> "SessionStore":
        path = Path(path)
        if not (path / "plan.yaml").is_file() or not (path / "state.json").is_file():
            raise ConfigError(f"{path} is not a hostlink session folder (no plan.yaml/state.json)",
                              "give the folder `hostlink session run` printed")
        return cls(path)

    def plan(self) -> Plan:
        return Plan.from_dict(yaml.safe_load((self.path / "plan.yaml").read_text()),
                              where=str(self.path / "plan.yaml"))

    # -- transcript -----------------------------------------------------------------------------

    def open_transcript(self) -> None:
        if self._handler is None:
            h = logging.FileHandler(self.path / "transcript.log", encoding="utf-8")
            fmt = logging.Formatter("%(asctime)s.%(msecs)03dZ %(levelname)s %(message)s",
                                    "%Y-%m-%dT%H:%M:%S")
            fmt.converter = __import__("time").gmtime
            h.setFormatter(fmt)
            self.log.addHandler(h)
            self._handler = h

    def close_transcript(self) -> None:
        if self._handler is not None:
            self.log.removeHandler(self._handler)
            self._handler.close()
            self._handler = None

    # -- state ----------------------------------------------------------------------------------

    def state(self) -> dict:
        return json.loads((self.path / "state.json").read_text())

    def write_state(self, state: dict) -> None:
        _write_json(self.path / "state.json", state)

    def set_status(self, status: str, reason: str | None = None) -> None:
        st = self.state()
        st["status"], st["reason"] = status, reason
        self.write_state(st)

    def manifest(self) -> dict:
        return json.loads((self.path / "manifest.json").read_text())

    def record_board(self, label: str, info: dict) -> None:
        m = self.manifest()
        m["boards"].setdefault(label, {}).update(info)
        _write_json(self.path / "manifest.json", m)

    # -- windows --------------------------------------------------------------------------------

    def board_dir(self, label: str) -> Path:
        d = self.path / label
        d.mkdir(exist_ok=True)
        return d

    def completed_windows(self, label: str) -> list[int]:
        d = self.path / label
        if not d.is_dir():
            return []
        return sorted(int(p.stem.split("_")[1]) for p in d.glob("window_*.json")
                      if p.stem.split("_")[1].isdigit())

    def write_window(self, label: str, index: int, trace, window: dict) -> None:
        d = self.board_dir(label)
        trace.save(d / f"window_{index:03d}.npz", board=label, window=index)
        _write_json(d / f"window_{index:03d}.json", window)  # last: marks the window complete
        st = self.state()
        st["windows"][label] = self.completed_windows(label)
        self.write_state(st)

    def write_rejected(self, label: str, index: int, trace, window: dict) -> Path:
        d = self.board_dir(label)
        p = d / f"window_{index:03d}.rejected.npz"
        trace.save(p, board=label, window=index, reason=window.get("reason"))
        _write_json(d / f"window_{index:03d}.rejected.json", window)
        return p

    def windows(self, label: str) -> list[dict]:
        return [json.loads((self.path / label / f"window_{i:03d}.json").read_text())
                for i in self.completed_windows(label)]

    def board_labels(self) -> list[str]:
        plan = self.plan()
        return [plan.label_of(i) for i in range(len(plan.boards))]

    def frame_rows(self) -> list[dict]:
        rows = []
        for label in self.board_labels():
            for w in self.windows(label):
                rows += w["rows"]
        return rows

    def write_tables(self) -> None:
        rows = self.frame_rows()
        with open(self.path / "frames.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FRAME_FIELDS, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow(r)
        _write_json(self.path / "frames.json", {"units": UNITS, "rows": rows})

    def write_summary(self, summary: dict, markdown: str) -> None:
        _write_json(self.path / "summary.json", summary)
        (self.path / "summary.md").write_text(markdown)
