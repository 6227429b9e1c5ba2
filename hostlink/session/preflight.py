"""Everything a session can check before it creates its folder or touches a completed one.

A plan that cannot run (unknown board, unreachable port, missing or refused model, monitor address
that does not parse or open, too few marker inputs, a supply the monitor cannot give) fails here
with one line naming the board and the problem, and nothing is written. Each board is connected,
asked for its description and closed again; the model is checked against the board's limits on
the host (the same admission rules the boards run, hostlink.models.admission) instead of being
uploaded twice, since an upload over a slow link takes minutes.
"""
from __future__ import annotations

import functools
import threading
from pathlib import Path

from ..errors import ConfigError, HostlinkError
from ..power import open_monitor
from ..power.align import bits_needed
from .analysis import stage_id
from .plan import DEFAULT_MONITOR, Plan, resolve_model


class SessionNotStarted(HostlinkError):
    """The plan cannot run; nothing was written (or, on resume, nothing was changed)."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 2):
        super().__init__(message, hint)
        self.exit_code = exit_code


def preflight(plan: Plan, plan_dir: Path | None, connect, *, labels: set[str] | None = None,
              verb: str = "started", parallel: bool = False) -> None:
    """Check each board of ``plan`` (only those in ``labels`` when given); raise SessionNotStarted.

    With ``parallel``, the boards are checked at once (a farm's places are on other hosts), and
    the first board's problem in plan order is the one reported."""
    todo = [(i, bp, plan.label_of(i)) for i, bp in enumerate(plan.boards)
            if labels is None or plan.label_of(i) in labels]
    problems: dict[int, SessionNotStarted] = {}

    def one(i, bp, label) -> None:
        try:
            _check_board(plan, i, label, bp, plan_dir, connect)
        except HostlinkError as err:
            problems[i] = SessionNotStarted(f"session not {verb}: {label}: {err.message}",
                                            err.hint, getattr(err, "exit_code", 2))
        except (OSError, ValueError) as err:  # a port or option the lower layers did not word
            problems[i] = SessionNotStarted(f"session not {verb}: {label}: {err}",
                                            f"check the board's port {bp.port!r} and monitor {bp.monitor!r}")

    if parallel and len(todo) > 1:
        workers = [threading.Thread(target=one, args=item, daemon=True) for item in todo]
        for w in workers:
            w.start()
        for w in workers:
            while w.is_alive():
                w.join(0.2)  # short joins keep Ctrl-C responsive
    else:
        for item in todo:
            one(*item)
            if problems:
                break
    if problems:
        raise problems[min(problems)]


def monitor_address(bp, dev) -> str:
    """The monitor a board is measured with: the plan's, else its labgrid place's, else the
    emulated PPK2 an emulated board comes with."""
    if bp.monitor:
        return bp.monitor
    lease = getattr(dev, "farm_lease", None)
    if lease is not None:
        if not lease.monitor:
            raise ConfigError(f"labgrid place {lease.place} has no power monitor",
                              "add a resource named 'monitor' to the place, or name one with monitor: in the plan")
        return lease.monitor
    return DEFAULT_MONITOR


def _check_board(plan: Plan, i: int, label: str, bp, plan_dir: Path | None, connect) -> None:
    try:
        model_path, no_model = resolve_model(plan.model_for(i), plan_dir), None
    except ConfigError as err:  # fatal unless the board turns out to have its model built in
        model_path, no_model = None, err
    dev = connect(bp.port)
    try:
        info = dev.info or dev.hello()
        built_in = "MODEL_BUILT_IN" in info.capabilities
        if built_in:
            if getattr(dev, "mode", None) != "energy":
                raise ConfigError(f"{info.board_name} runs performance-mode firmware: a session measures energy "
                                  "between its timestamp pulses",
                                  "flash its energy-mode build (or use emu:mlperftiny?mode=energy)")
        else:
            if no_model is not None:
                raise no_model
            if not info.stages:
                raise ConfigError(f"{info.board_name} reports no stages", "the board's firmware must time its stages")
            for s in info.stages:
                stage_id(s)
            _check_model(info, model_path)
        board = dev.emulated_board
        address = monitor_address(bp, dev)
        try:
            monitor = open_monitor(address, board=board)
        except ValueError as err:
            raise ConfigError(f"monitor address {address!r} has a bad option value: {err}",
                              "see `hostlink session run --help` for monitor addresses") from None
        with monitor:
            supply = bp.supply_v
            if supply is None and board is not None and hasattr(board, "profile"):
                supply = float(board.profile.supply_v)
            monitor.configure(supply_v=supply)
            if built_in:  # one timestamp pin
                need, what = 1, "the DUT's timestamp pin needs 1 marker input"
            else:
                max_id = max(stage_id(s) for s in info.stages)
                need, what = bits_needed(max_id), f"stage ids up to {max_id} need {bits_needed(max_id)} marker inputs"
            if need > monitor.info.digital_channels:
                raise ConfigError(f"{what}; the {monitor.info.model} has {monitor.info.digital_channels}",
                                  "use a monitor with more digital inputs (PPK2: 8, JS220: 4)")
    finally:
        dev.close()


_ANALYSIS_LOCK = threading.Lock()


def _analysis(data: bytes, name: str):
    """One analysis (tflite-micro arena included: seconds of CPU) per model, however many boards
    are checked, one after the other or at once."""
    with _ANALYSIS_LOCK:
        return _analyse(data, name)


@functools.lru_cache(maxsize=8)
def _analyse(data: bytes, name: str):
    from ..models.formats import analyze_bytes

    return analyze_bytes(data, name=name, with_arena=True)


def _check_model(info, model_path: Path) -> None:
    """The board's format list, then its memory and op limits, as the board itself would judge."""
    from .. import protocols as P
    from ..client import model_format_for
    from ..emulator.profiles import get_profile
    from ..models.admission import check
    data = model_path.read_bytes()
    fmt = model_format_for(data, str(model_path))
    fmt_name = P.FORMAT_NAMES[fmt]
    if info.formats and fmt_name not in info.formats:
        raise ConfigError(f"{info.board_name} does not accept {fmt_name} models ({model_path.name}); "
                          f"it accepts {', '.join(info.formats)}", "give a model in one of those formats")
    if fmt not in (P.ModelFormat.TFLITE,):
        return  # other formats are judged by the board's own tools
    try:
        limits = get_profile(str(info.board)).limits
    except ConfigError:
        return  # a board kind without a profile judges the model itself at upload
    refusals = check(_analysis(data, model_path.name), limits)
    if refusals:
        raise ConfigError(f"{info.board_name} would refuse model {model_path.name!r}: "
                          + "; ".join(r.message for r in refusals),
                          f"`hostlink inspect {model_path.name} --board {str(info.board).lower()}` shows "
                          "the limits; choose a model that fits")
