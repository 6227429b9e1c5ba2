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
      <board>/window_NNN.rejected.{npz,json}  a window that failed a check, kept as evidence
      frames.csv, frames.json  every per-frame stage row of every board
      summary.json, summary.md  median/min/max/IQR per stage in ms, mW, mJ
      trace_<board>.png, energy.png

Nothing is parsed back from free text: resume and report read the json files. Every file is
written whole or not at all (``atomic.py``): a session killed by any signal leaves only complete
files, plus temporaries that the next resume removes. A folder appears under its final name only
once plan.yaml, manifest.json and state.json are in it.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import errno
import io
import json
import logging
import os
import platform
import re
import shutil
import threading
from pathlib import Path

import yaml

from ..errors import ConfigError
from . import atomic
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
    atomic.write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


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
        # boards measured in parallel (a farm session) update the shared json files
        self._lock = threading.RLock()

    # -- creation / reopening -------------------------------------------------------------------

    @classmethod
    def create(cls, out_dir: str | Path, plan: Plan) -> "SessionStore":
        """A new session folder, built under a hidden name and renamed into place complete."""
        from .. import __version__
        import numpy

        base = Path(out_dir)
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"cannot create the session folder in {base}: {err.strerror}",
                              "give a writable folder with --out") from None
        _clean_abandoned_builds(base)
        building = base / f".{plan.name}.creating-{os.getpid()}"
        building.mkdir()
        try:
            atomic.write_text(building / "plan.yaml", yaml.safe_dump(plan.as_dict(), sort_keys=False))
            _write_json(building / "manifest.json", {
                "schema": SCHEMA, "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(),
                "hostlink": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
                "platform": platform.platform(), "units": UNITS, "boards": {},
            })
            _write_json(building / "state.json", {"status": "running", "reason": None, "windows": {}})
            k = 1
            path = base / f"{utc_stamp()}_{plan.name}"
            while True:
                # One atomic rename, so no kill can leave a visible folder without its files. A
                # name in use is skipped; if another run takes it between the check and the rename,
                # the rename fails (its folder is not empty) and the next name is tried.
                if not path.exists():
                    try:
                        os.rename(building, path)
                        break
                    except OSError as err:
                        if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                            raise
                k += 1
                path = base / f"{utc_stamp()}_{plan.name}_{k}"
            atomic.fsync_dir(base)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        return cls(path)

    def remove(self) -> None:
        """Delete the folder (a session that failed before its first window: nothing to keep).
        It is first renamed to a hidden name in one step, so a kill during the deletion leaves no
        half-deleted session folder, only hidden debris that the next ``create`` here removes."""
        self.close_transcript()
        doomed = self.path.with_name(f".{self.path.name}.removing-{os.getpid()}")
        os.rename(self.path, doomed)
        with contextlib.suppress(OSError):
            atomic.fsync_dir(self.path.parent)
        shutil.rmtree(doomed, ignore_errors=True)

    @classmethod
    def open(cls, path: str | Path) -> "SessionStore":
        path = Path(path)
        if not (path / "plan.yaml").is_file() or not (path / "state.json").is_file():
            raise ConfigError(f"{path} is not a hostlink session folder (no plan.yaml/state.json)",
                              "give the folder `hostlink session run` printed")
        return cls(path)

    def clean_temporaries(self) -> list[Path]:
        """Remove what writers killed mid-write left behind (see atomic.py)."""
        return atomic.clean_temporaries(self.path)

    def plan(self) -> Plan:
        return Plan.from_dict(yaml.safe_load((self.path / "plan.yaml").read_text()),
                              where=str(self.path / "plan.yaml"))

    # -- transcript -----------------------------------------------------------------------------

    def open_transcript(self) -> None:
        if self._handler is None:
            h = atomic.AppendLineHandler(self.path / "transcript.log")
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
        try:
            return json.loads((self.path / "state.json").read_text())
        except (OSError, ValueError) as err:
            raise ConfigError(f"{self.path / 'state.json'} cannot be read: {err}",
                              "the folder was changed by hand; restore state.json") from None

    def write_state(self, state: dict) -> None:
        _write_json(self.path / "state.json", state)

    def set_status(self, status: str, reason: str | None = None) -> None:
        with self._lock:
            st = self.state()
            st["status"], st["reason"] = status, reason
            self.write_state(st)

    def manifest(self) -> dict:
        return json.loads((self.path / "manifest.json").read_text())

    def record_board(self, label: str, info: dict) -> None:
        with self._lock:
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

    def _save_trace(self, path: Path, trace, **meta) -> None:
        # Built and read back in memory first, then written with one atomic write: what lands on
        # disk has already loaded once, and a signal can only stop the write, not the zip inside it.
        buf = io.BytesIO()
        trace.save(buf, **meta)
        buf.seek(0)
        type(trace).load(buf)
        atomic.write_bytes(path, buf.getvalue())

    def write_window(self, label: str, index: int, trace, window: dict) -> None:
        d = self.board_dir(label)
        self._save_trace(d / f"window_{index:03d}.npz", trace, board=label, window=index)
        _write_json(d / f"window_{index:03d}.json", window)  # last: marks the window complete
        with self._lock:
            st = self.state()
            st["windows"][label] = self.completed_windows(label)
            self.write_state(st)

    def write_rejected(self, label: str, index: int, trace, window: dict) -> Path:
        d = self.board_dir(label)
        p = d / f"window_{index:03d}.rejected.npz"
        self._save_trace(p, trace, board=label, window=index, reason=window.get("reason"))
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
        with atomic.atomic_open(self.path / "frames.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=FRAME_FIELDS, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow(r)
        _write_json(self.path / "frames.json", {"units": UNITS, "rows": rows})

    def write_summary(self, summary: dict, markdown: str) -> None:
        _write_json(self.path / "summary.json", summary)
        atomic.write_text(self.path / "summary.md", markdown)


_BUILDING = re.compile(r"^\..+\.(?:creating|removing)-(\d+)$")


def _clean_abandoned_builds(base: Path) -> None:
    """Folders whose creator was killed before renaming them into place hold no results."""
    for p in base.iterdir():
        m = _BUILDING.match(p.name)
        if m and p.is_dir() and not atomic._alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)
