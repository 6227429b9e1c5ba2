"""What a power-measurement session runs: boards, model, monitor, warm-up, windows.

A plan is YAML (``hostlink session run PLAN.yaml``) or the same fields given as flags:

    name: tinytracker
    model: tinytracker_int8.tflite      # a path, or a model bundled in hostlink/data/models
    boards:
      - port: emu:imx500                # what hostlink.connect() accepts
        monitor: emulated://ppk2        # see hostlink.power.open_monitor (default: this one, or a
                                        # labgrid://PLACE's own monitor; docs/farm.md)
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
    parallel: true                      # measure the boards at once (default: when all are labgrid places)
    checks:
      max_lost_fraction: 0.001          # lost monitor samples per window
      max_residual_samples: 3           # markers vs board timestamps after a linear fit
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ..bundled import find_model
from ..errors import ConfigError
from ..limits import MAX_BOARDS, MAX_FRAMES, MAX_PERIOD_US, MAX_WINDOWS

NAME_RE = r"[A-Za-z0-9_.-]{1,64}"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


#: The monitor of a board whose plan names none: an emulated board's emulated PPK2. A board on a
#: labgrid place uses the place's own monitor resource instead (hostlink.farm).
DEFAULT_MONITOR = "emulated://ppk2"


@dataclass
class BoardPlan:
    port: str
    monitor: str | None = None  # None: DEFAULT_MONITOR, or the labgrid place's monitor
    label: str | None = None
    supply_v: float | None = None
    model: str | None = None  # overrides the plan's model for this board


@dataclass
class Checks:
    max_lost_fraction: float = 0.001
    max_residual_samples: float = 3.0


# ---------------------------------------------------------------------------------------------- schema
# One table per mapping: field -> (check, example of a good value). A check returns the value or
# raises _Bad with what is wrong. Hand-written rather than a JSON Schema validator: every failure
# must name the field path *and* the fix, NaN must fail a range (it passes JSON Schema's
# minimum/maximum), and a bool must not pass for a number (YAML's `yes`).


class _Bad(Exception):
    def __init__(self, problem: str, fix: str | None = None):
        super().__init__(problem)
        self.fix = fix


def _int(low: int, high: int) -> Callable[[Any], int]:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Bad(f"must be a whole number from {low} to {high}, not {_kind(v)}")
        if not low <= v <= high:
            raise _Bad(f"must be from {low} to {high}, not {v}")
        return v
    return check


def _number(low: float, high: float, low_open: bool = False, optional: bool = False) -> Callable[[Any], float]:
    rng = f"{'>' if low_open else '>='} {low:g} and <= {high:g}"

    def check(v):
        if v is None and optional:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _Bad(f"must be a number {rng}, not {_kind(v)}")
        if not math.isfinite(v) or (v <= low if low_open else v < low) or v > high:
            raise _Bad(f"must be a finite number {rng}, not {v}")
        return float(v)
    return check


def _text(what: str, pattern: str | None = None, optional: bool = False, max_len: int = 4096):
    def check(v):
        if v is None and optional:
            return None
        if not isinstance(v, str):
            raise _Bad(f"must be {what}, not {_kind(v)}")
        if not v.strip() or len(v) > max_len or _CONTROL.search(v) or (pattern and not re.fullmatch(pattern, v)):
            raise _Bad(f"must be {what}, not {_shown(v)}")
        return v
    return check


def _flag(v):
    if v is None or isinstance(v, bool):
        return v
    raise _Bad(f"must be true or false, not {_kind(v)}")


def _port(v):
    from ..ports import check_port

    if not isinstance(v, str):
        raise _Bad(f"must be a board address (text), not {_kind(v)}")
    try:
        return check_port(v)
    except ConfigError as err:
        raise _Bad(err.message, err.hint) from None


def _monitor(v):
    from ..power import SCHEMES

    if v is None:
        return None
    if not isinstance(v, str):
        raise _Bad(f"must be a monitor address (text), not {_kind(v)}")
    scheme, sep, _ = v.partition("://")
    if not sep or scheme not in SCHEMES or _CONTROL.search(v):
        close = difflib.get_close_matches(scheme, SCHEMES, n=1)
        guess = f" (did you mean {close[0]}://?)" if close and close[0] != scheme else ""
        raise _Bad(f"{_shown(v)} is not a monitor address{guess}; schemes: {', '.join(s + '://' for s in SCHEMES)}")
    return v


BOARD_FIELDS: dict[str, tuple[Callable, str]] = {
    "port": (_port, "port: emu:imx500"),
    "monitor": (_monitor, "monitor: emulated://ppk2"),
    "label": (_text("1 to 64 letters, digits, _ . -", NAME_RE, optional=True), "label: coral"),
    "supply_v": (_number(0, 30, low_open=True, optional=True), "supply_v: 5.0"),
    "model": (_text("a model path or bundled model name", optional=True), "model: tinytracker_int8.tflite"),
}
CHECK_FIELDS: dict[str, tuple[Callable, str]] = {
    "max_lost_fraction": (_number(0, 1), "max_lost_fraction: 0.001"),
    "max_residual_samples": (_number(0, 1e6), "max_residual_samples: 3"),
}
PLAN_FIELDS: dict[str, tuple[Callable, str]] = {
    "name": (_text("1 to 64 letters, digits, _ . -", NAME_RE), "name: tinytracker"),
    "model": (_text("a model path or bundled model name"), "model: tinytracker_int8.tflite"),
    "warmup_frames": (_int(0, MAX_FRAMES), "warmup_frames: 5"),
    "frames_per_window": (_int(1, MAX_FRAMES), "frames_per_window: 20"),
    "min_window_s": (_number(0, 86400), "min_window_s: 0"),
    "windows": (_int(1, MAX_WINDOWS), "windows: 5"),
    "period_us": (_int(0, MAX_PERIOD_US), "period_us: 0"),
    "settle_ms": (_number(0, 60_000), "settle_ms: 5"),
    "parallel": (_flag, "parallel: true"),
    # boards and checks are mappings of their own, checked by _check_boards / _check_mapping
    "boards": (None, "boards: [{port: emu:imx500, monitor: emulated://ppk2}]"),
    "checks": (None, "checks: {max_lost_fraction: 0.001}"),
}


def closest(word: str, known: list[str]) -> str | None:
    """The known key a typo most likely meant: one that starts with it, else contains it, else the
    closest spelling (``frames`` -> ``frames_per_window``, ``window`` -> ``windows``)."""
    w = word.lower().strip()
    if not w:
        return None
    for pick in ([k for k in known if k.startswith(w)], [k for k in known if w in k]):
        if pick:
            return min(pick, key=len)
    close = difflib.get_close_matches(w, known, n=1, cutoff=0.6)
    return close[0] if close else None


def _kind(v) -> str:
    if v is None:
        return "empty"
    if isinstance(v, bool):
        return f"{str(v).lower()} (a yes/no value)"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return f"the text {_shown(v)}"
    return {"list": "a list", "dict": "a mapping"}.get(type(v).__name__, type(v).__name__)


def _shown(v: str) -> str:
    text = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(v))
    return repr(text if len(text) <= 60 else text[:57] + "...")


class _Problems:
    def __init__(self):
        self.items: list[tuple[str, str, str | None]] = []  # (path, problem, fix)

    def add(self, path: str, problem: str, fix: str | None) -> None:
        self.items.append((path, problem, fix))


def _check_mapping(data, fields: dict, path: str, problems: _Problems, required=()) -> dict:
    """Known keys checked and kept; unknown ones reported with the closest known key."""
    prefix = f"{path}." if path else ""
    if not isinstance(data, dict):
        problems.add(path or "plan", f"must be a mapping of fields, not {_kind(data)}",
                      "e.g. " + "; ".join(ex for _, ex in list(fields.values())[:2]))
        return {}
    out = {}
    for key, value in data.items():
        if not isinstance(key, str) or key not in fields:
            close = closest(str(key), list(fields))
            shown_key = _shown(key)[1:-1] if isinstance(key, str) else repr(key)
            problems.add(f"{prefix}{shown_key}", "is not a known field" + (f" (did you mean {close!r}?)" if close else ""),
                         f"known fields: {', '.join(fields)}")
            continue
        check, example = fields[key]
        if check is None:
            out[key] = value
            continue
        try:
            out[key] = check(value)
        except _Bad as bad:
            problems.add(prefix + key, str(bad), bad.fix or f"e.g. {example}")
    for key in required:
        if key not in data:
            problems.add(prefix + key, "is missing", f"add {fields[key][1]}")
    return out


def _check_boards(value, problems: _Problems) -> list[dict]:
    fix = "e.g. " + PLAN_FIELDS["boards"][1]
    if value is None:
        value = []
    if isinstance(value, (str, dict)):
        problems.add("boards", f"must be a list of boards, not {_kind(value)}",
                     f"write it as a list: boards: [{value}]" if isinstance(value, str) else "put the board in a list: "
                     "boards: [{port: ..., monitor: ...}]")
        return []
    if not isinstance(value, list):
        problems.add("boards", f"must be a list of boards, not {_kind(value)}", fix)
        return []
    if not value:
        problems.add("boards", "is empty: the plan has no boards", "add `boards: [{port: emu:imx500}]` or use --board")
    if len(value) > MAX_BOARDS:
        problems.add("boards", f"lists {len(value)} boards; a session takes at most {MAX_BOARDS}", "split the plan")
        return []
    boards = []
    for i, b in enumerate(value):
        if isinstance(b, str):
            b = {"port": b}
        boards.append(_check_mapping(b, BOARD_FIELDS, f"boards[{i}]", problems, required=("port",)))
    return boards


def check_plan_data(data, where: str = "plan") -> dict:
    """The plan's fields checked against the schema; ConfigError naming the first bad field path."""
    problems = _Problems()
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the plan must be a mapping of fields, not {_kind(data)}",
                          "start from examples/tinytracker.yaml (name:, model:, boards:, ...)")
    out = _check_mapping(data, PLAN_FIELDS, "", problems, required=("model",))
    if "boards" in out or "boards" not in data:
        out["boards"] = _check_boards(out.get("boards"), problems)
    if "checks" in out:  # `checks:` with nothing under it means the defaults
        out["checks"] = _check_mapping({} if out["checks"] is None else out["checks"], CHECK_FIELDS, "checks", problems)
    if not problems.items:
        labels = [_label(b, i) for i, b in enumerate(out["boards"])]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            problems.add("boards", f"two boards share the label {dup[0]!r}", "give each board a distinct `label:`")
    if problems.items:
        path, problem, fix = problems.items[0]
        more = len(problems.items) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''}: {', '.join(p for p, _, _ in problems.items[1:4])}" \
               f"{', ...' if more > 3 else ''})" if more else ""
        sep = " " if problem.startswith(("must ", "is ", "lists ")) else ": "
        raise ConfigError(f"{where}: {path}{sep}{problem}{tail}", fix)
    return out


def _label(b: dict, i: int) -> str:
    if b.get("label"):
        return b["label"]
    port = str(b.get("port", "")).split("?")[0].replace("emu:", "").replace("labgrid://", "")
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", port)
    return base.strip("_") or f"board{i + 1}"


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
    parallel: bool | None = None  # boards measured at once; None: when every board is a labgrid place

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "plan") -> "Plan":
        """A Plan from a mapping (a YAML file's, or the CLI's options); ConfigError naming the field path."""
        clean = check_plan_data(data, where)
        boards = [BoardPlan(**b) for b in clean.pop("boards")]
        checks = Checks(**(clean.pop("checks", None) or {}))
        return cls(boards=boards, checks=checks, **clean)

    def validate(self, where: str = "plan") -> None:
        """The same schema for a Plan built in Python (``run_session(Plan(...))``)."""
        check_plan_data(self.as_dict(), where)

    def in_parallel(self) -> bool:
        """Boards measured at once: as the plan says, else when every board is a labgrid place
        (separate boards on separate hosts: the session takes as long as its slowest board)."""
        if self.parallel is not None:
            return self.parallel and len(self.boards) > 1
        return len(self.boards) > 1 and all(b.port.startswith("labgrid://") for b in self.boards)

    def label_of(self, i: int) -> str:
        b = self.boards[i]
        return _label(dataclasses.asdict(b), i)

    def model_for(self, i: int) -> str:
        return self.boards[i].model or self.model


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, except that a key given twice is an error instead of the last one silently winning."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            if key in seen:
                raise ConfigError(f"line {key_node.start_mark.line + 1}: the key {str(key)!r} is given twice",
                                  "keep one of them")
            seen.add(key)
        except TypeError:  # an unhashable key: the schema reports it
            pass
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_plan(path: str | Path) -> Plan:
    """Read and check a plan file; ConfigError (one line naming the field and the fix) on any problem.

    Nothing is created or opened here: a session calls this before it makes its folder.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(f"plan {path} is a folder, not a YAML file") from None
    except OSError as err:
        raise ConfigError(f"cannot read plan {path}: {err.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"plan {path} is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})",
                          "save it as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err.message}", err.hint) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path} is not valid YAML{where}: {problem}", "check the indentation and brackets there") \
            from None
    except RecursionError:
        raise ConfigError(f"{path} nests too deeply to be a plan") from None
    return Plan.from_dict({} if data is None else data, where=str(path))


def resolve_model(name: str, base: Path | None = None) -> Path:
    """A model path as given, relative to the plan's folder, or bundled with hostlink."""
    return find_model(name, base)
