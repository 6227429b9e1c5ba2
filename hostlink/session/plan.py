"""What a power-measurement session runs: boards, model, monitor, warm-up, windows.

A plan is YAML (``hostlink session run PLAN.yaml``) or the same fields given as flags:

    name: tinytracker
    model: tinytracker_int8.tflite      # a path, or a model bundled in hostlink/data/models
    boards:
      - port: emu:imx500                # what hostlink.connect() accepts
        monitor: emulated://ppk2        # see hostlink.power.open_monitor
      - port: emu:coralmicro
        monitor: emulated://ppk2
        label: coral                    # optional; default: the board kind
        supply_v: 5.0                   # optional; default: the board's (emulator) or the PPK2's
    warmup_frames: 5
    frames_per_window: 20
    min_window_s: 0                     # > 0: grow the window until it lasts this long
    windows: 5
    period_us: 0                        # 0: frames back to back
    settle_ms: 5                        # idle after each window, so the last frame ends in idle
    checks:
      max_lost_fraction: 0.001          # lost monitor samples per window
      max_residual_samples: 3           # markers vs board timestamps after a linear fit
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import ConfigError

MODELS_DIR = Path(__file__).resolve().parent.parent / "data" / "models"


@dataclass
class BoardPlan:
    port: str
    monitor: str = "emulated://ppk2"
    label: str | None = None
    supply_v: float | None = None
    model: str | None = None  # overrides the plan's model for this board


@dataclass
class Checks:
    max_lost_fraction: float = 0.001
    max_residual_samples: float = 3.0


@dataclass
class Plan:
    boards: list[BoardPlan]
    model: str
    name: str = "session"
    warmup_frames: int = 5
    frames_per_window: int = 20
    min_window_s: float = 0.0
    windows: int = 5
    period_us: int = 0
    settle_ms: float = 5.0
    checks: Checks = field(default_factory=Checks)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "plan") -> "Plan":
        if not isinstance(data, dict):
            raise ConfigError(f"{where} is not a mapping of plan fields")
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}",
                              f"plan fields are: {', '.join(sorted(known))}")
        boards = []
        for i, b in enumerate(data.pop("boards", None) or []):
            if isinstance(b, str):
                b = {"port": b}
            try:
                boards.append(BoardPlan(**b))
            except TypeError as err:
                raise ConfigError(f"{where}: board {i + 1}: {err}",
                                  "board fields are: port, monitor, label, supply_v, model") from None
        checks = Checks(**(data.pop("checks", None) or {}))
        if "model" not in data:
            raise ConfigError(f"{where} names no model", "add `model: tinytracker_int8.tflite` or use --model")
        plan = cls(boards=boards, checks=checks, **data)
        plan.validate(where)
        return plan

    def validate(self, where: str = "plan") -> None:
        if not self.boards:
            raise ConfigError(f"{where} has no boards", "add `boards: [{port: emu:imx500}]` or use --board")
        for name, minimum in (("frames_per_window", 1), ("windows", 1), ("warmup_frames", 0),
                              ("period_us", 0)):
            if int(getattr(self, name)) < minimum:
                raise ConfigError(f"{where}: {name} must be at least {minimum}")
        if self.min_window_s < 0 or self.settle_ms < 0:
            raise ConfigError(f"{where}: min_window_s and settle_ms cannot be negative")
        labels = [self.label_of(i) for i in range(len(self.boards))]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"{where}: two boards share the label {labels}",
                              "give each board a distinct `label:`")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ConfigError(f"{where}: name {self.name!r} must be letters, digits, _ . -")

    def label_of(self, i: int) -> str:
        b = self.boards[i]
        if b.label:
            return b.label
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", b.port.split("?")[0].replace("emu:", ""))
        return base.strip("_") or f"board{i + 1}"

    def model_for(self, i: int) -> str:
        return self.boards[i].model or self.model


def load_plan(path: str | Path) -> Plan:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ConfigError(f"cannot read plan {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    return Plan.from_dict(data or {}, where=str(path))


def resolve_model(name: str, base: Path | None = None) -> Path:
    """A model path as given, relative to the plan's folder, or bundled with hostlink."""
    candidates = [Path(name)]
    if base is not None:
        candidates.append(base / name)
    candidates += [MODELS_DIR / name, MODELS_DIR / f"{name}.tflite"]
    for c in candidates:
        if c.is_file():
            return c
    bundled = ", ".join(sorted(p.name for p in MODELS_DIR.glob("*.tflite"))) or "none"
    raise ConfigError(f"model {name!r} not found", f"give a path, or a bundled model: {bundled}")
