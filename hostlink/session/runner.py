"""Running a plan unattended: per board connect, upload, warm up, then windows of frames measured
with the board's monitor, each written to the session folder as soon as it is complete.

A window is the unit of work: if the session stops (Ctrl-C, SIGTERM, a board or monitor that
vanishes, a failed validity check) every completed window stays, the state file says why it
stopped, and ``resume`` runs only the windows still missing. Even SIGKILL leaves only whole files
(store.py, atomic.py), so a resume after any kill completes with every frame exactly once.

A plan that cannot run fails before its folder exists (preflight.py). A session that fails after
that but before it kept anything (no window, no rejected trace) removes its folder: there is
nothing to resume. A resume is advised only where it can succeed: never after a refused plan.
"""
from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from ..errors import ConfigError, HostlinkError
from ..power import Trace, open_monitor
from ..power import align
from ..power.align import bits_needed
from .analysis import SessionInvalid, analyse_window, stage_id
from .plan import Plan, resolve_model
from .plots import plot_energy, plot_trace
from .preflight import SessionNotStarted, monitor_address, preflight
from .store import SessionStore
from .summary import board_summary, session_markdown

CATCH_UP_LIMIT_S = 5.0
INPUT_SEED = 0  # the input a built-in-model board is given: energy barely depends on its values


class SessionStopped(HostlinkError):
    """The session stopped before its last window; completed windows are kept."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 3):
        super().__init__(message, hint)
        self.exit_code = exit_code


class Terminated(KeyboardInterrupt):
    """SIGTERM during a session: stop as for Ctrl-C (keep the completed windows, say why)."""


@contextlib.contextmanager
def _sigterm_stops_gracefully():
    """While a session runs, SIGTERM (systemd, docker stop, kill) stops it like Ctrl-C. Only the
    main thread can take signals, and a handler the application installed is left alone."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _connect(port: str):
    import hostlink

    return hostlink.connect(port)


class SessionRunner:
    def __init__(self, store: SessionStore, plan: Plan, *, plan_dir: Path | None = None,
                 progress: bool = True, console=None, connect=_connect, fresh: bool = False):
        self.store = store
        self.fresh = fresh  # a folder made by this run (removed if it ends with nothing kept)
        self.plan = plan
        self.plan_dir = plan_dir
        self.show_progress = progress
        self.console = console
        self.connect = connect
        self._progress = None
        self._task = None
        self._stopping = threading.Event()
        self._store_lock = threading.Lock()

    # -- top level ------------------------------------------------------------------------------

    def run(self) -> dict:
        store, plan = self.store, self.plan
        store.open_transcript()
        store.set_status("running")
        log = store.log
        log.info("session %s: %d board(s), %d window(s) x %d frame(s), warm-up %d",
                 store.path.name, len(plan.boards), plan.windows, plan.frames_per_window, plan.warmup_frames)
        where = "starting"
        try:
            with self._progress_bar():
                if plan.in_parallel():
                    where = "the boards' windows"
                    self._run_parallel()
                else:
                    for i in range(len(plan.boards)):
                        label = plan.label_of(i)
                        where = f"board {label}"
                        self._run_board(i, label)
        except KeyboardInterrupt as err:
            sigterm = isinstance(err, Terminated)
            reason = f"{'stopped by SIGTERM' if sigterm else 'interrupted by the user'} during {where}"
            self._give_up("interrupted", reason, None, 143 if sigterm else 130, resumable=True)
        except SessionInvalid as err:
            self._give_up("invalid", err.message, err.hint, err.exit_code, resumable=False)
        except HostlinkError as err:
            # a refused configuration fails the same way on resume; a vanished board or monitor may not
            self._give_up("failed", err.message, err.hint, err.exit_code,
                          resumable=not isinstance(err, ConfigError))
        store.set_status("complete")
        log.info("session complete")
        summary = finalize(store)
        store.close_transcript()
        return summary

    # -- boards at once ---------------------------------------------------------------------------

    def _run_parallel(self) -> None:
        """Each board in its own thread. A board that fails (its exporter gone, its monitor
        unplugged) keeps its completed windows and the others go on; the session then stops with
        every board's reason, and ``resume`` runs only what is missing."""
        errors: dict[str, BaseException] = {}

        def work(i: int, label: str) -> None:
            try:
                self._run_board(i, label)
            except BaseException as err:  # reported below, in the main thread
                errors[label] = err
                if not isinstance(err, HostlinkError):
                    self._stopping.set()  # a bug: stop the others at their next window

        workers = [threading.Thread(target=work, args=(i, self.plan.label_of(i)), daemon=True,
                                    name=f"session-{self.plan.label_of(i)}") for i in range(len(self.plan.boards))]
        for w in workers:
            w.start()
        try:
            for w in workers:
                while w.is_alive():
                    w.join(0.2)
        except KeyboardInterrupt:
            self._stopping.set()  # each worker finishes the window it is in, then stops
            for w in workers:
                w.join()
            raise
        for label, err in errors.items():
            if not isinstance(err, HostlinkError):
                raise err
            self.store.log.error("%s stopped: %s", label, err.message)
        if errors:
            invalid = [e for e in errors.values() if isinstance(e, SessionInvalid)]
            if invalid:
                raise invalid[0]
            text = "; ".join(f"{label}: {err.message}" for label, err in errors.items())
            first = next(iter(errors.values()))
            cls = ConfigError if all(isinstance(e, ConfigError) for e in errors.values()) else HostlinkError
            raise cls(f"{len(errors)} of {len(self.plan.boards)} boards stopped ({text})", first.hint)

    def _give_up(self, status: str, reason: str, hint: str | None, exit_code: int, *, resumable: bool):
        store = self.store
        if self.fresh and not self._kept_anything():
            store.log.error("session not started: %s", reason)
            store.remove()
            raise SessionNotStarted(f"session not started: {reason}; nothing was measured, so its folder "
                                    f"was removed", hint, exit_code=exit_code) from None
        self._stop(status, reason)
        if resumable:
            hint = (hint + "; then " if hint else "") + f"continue with: hostlink session resume {store.path}"
        raise SessionStopped(self._stopped_message(reason), hint, exit_code=exit_code) from None

    def _kept_anything(self) -> bool:
        """A completed window, or a rejected one kept as evidence."""
        for i in range(len(self.plan.boards)):
            d = self.store.path / self.plan.label_of(i)
            if d.is_dir() and any(d.glob("window_*.json")):
                return True
        return False

    def _stopped_message(self, reason: str) -> str:
        kept = sum(len(self.store.completed_windows(self.plan.label_of(i))) for i in range(len(self.plan.boards)))
        return f"session stopped: {reason}. Kept {kept} complete window(s) in {self.store.path}"

    def _stop(self, status: str, reason: str) -> None:
        self.store.log.error("session %s: %s", status, reason)
        self.store.set_status(status, reason)
        try:
            finalize(self.store, plots=False)
        finally:
            self.store.close_transcript()

    # -- progress -------------------------------------------------------------------------------

    def _progress_bar(self):
        if not self.show_progress:
            return nullcontext()
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        total = 0
        for i in range(len(self.plan.boards)):
            left = self.plan.windows - len(self.store.completed_windows(self.plan.label_of(i)))
            if left > 0:
                total += self.plan.warmup_frames + left * self.plan.frames_per_window
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("frames"), TimeElapsedColumn(), console=self.console,
                                  transient=False)
        self._task = self._progress.add_task("session", total=total)
        return self._progress

    def _advance(self, frames: int, description: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=frames, description=description)

    def _grow_total(self, extra: int) -> None:
        if self._progress is not None and extra:
            t = self._progress.tasks[0].total or 0
            self._progress.update(self._task, total=t + extra)

    # -- one board ------------------------------------------------------------------------------

    def _run_board(self, i: int, label: str) -> None:
        plan, store, log = self.plan, self.store, self.store.log
        bp = plan.boards[i]
        done = store.completed_windows(label)
        if len(done) >= plan.windows:
            log.info("%s: all %d windows already complete", label, plan.windows)
            return
        log.info("%s: connecting to %s", label, bp.port)
        dev = self.connect(bp.port)
        try:
            info = dev.info
            log.info("%s: %s, serial %s, firmware %s, clock %d Hz, stages %s", label, info.board_name,
                     info.serial, info.fw_version, info.clock_hz, ",".join(info.stages))
            if "MODEL_BUILT_IN" in info.capabilities:
                self._run_built_in(i, label, dev, done)
                return
            if not info.stages:
                raise ConfigError(f"{label} reports no stages", "the board's firmware must time its stages")
            model = dev.upload(str(resolve_model(plan.model_for(i), self.plan_dir)))
            log.info("%s: model %s (%d bytes, %s), %s", label, model.name, model.size, model.format, model.engine)
            board = dev.emulated_board
            address = monitor_address(bp, dev)
            monitor = open_monitor(address, board=board)
            with monitor:
                self._measure(i, label, dev, model, board, monitor, done, address)
        finally:
            self._device_log(dev, label)
            dev.close()

    def _measure(self, i, label, dev, model, board, monitor, done, address) -> None:
        plan, store, log = self.plan, self.store, self.store.log
        bp = plan.boards[i]
        info = dev.info
        supply = bp.supply_v
        if supply is None and board is not None:
            supply = float(board.profile.supply_v)
        monitor.configure(supply_v=supply)
        if monitor.info.can_source:
            monitor.set_dut_power(True)
        max_id = max(stage_id(s) for s in info.stages)
        if bits_needed(max_id) > monitor.info.digital_channels:
            raise ConfigError(
                f"{label}: stage ids up to {max_id} need {bits_needed(max_id)} marker inputs; "
                f"the {monitor.info.model} has {monitor.info.digital_channels}",
                "use a monitor with more digital inputs (PPK2: 8, JS220: 4)")
        mi = monitor.info.as_dict()
        log.info("%s: monitor %s serial %s at %.0f S/s, supply %s V", label, mi["model"], mi["serial"],
                 mi["sample_rate_hz"], supply)
        store.record_board(label, {
            **_device_record(bp, info), "stages": list(info.stages),
            "model": {"name": model.name, "size": model.size, "crc32": model.crc32, "format": model.format,
                      "engine": model.engine, "macs": model.macs,
                      "path": str(resolve_model(plan.model_for(i), self.plan_dir))},
            "monitor": mi, "monitor_address": address, "supply_v": supply,
        })
        monitor.start()
        frames = plan.frames_per_window
        if plan.warmup_frames:
            warm = dev.capture(count=plan.warmup_frames, period_us=plan.period_us)
            self._advance(plan.warmup_frames, f"{label} warm-up")
            if plan.min_window_s > 0:
                frame_ms = max(sum(r.total_ms for r in warm) / len(warm), 1e-3) + plan.period_us / 1000
                grown = max(frames, math.ceil(plan.min_window_s * 1000 / frame_ms))
                self._grow_total((grown - frames) * (plan.windows - len(done)))
                frames = grown
        log.info("%s: %d frame(s) per window", label, frames)
        next_index = (max(done) + 1) if done else 1
        for _ in range(plan.windows - len(done)):
            if self._stopping.is_set():  # Ctrl-C in a parallel session: stop between windows
                return
            self._window(label, next_index, dev, monitor, frames, info.stages)
            next_index += 1

    def _run_built_in(self, i, label, dev, done) -> None:
        """A board whose model is compiled into its firmware (an MLPerf Tiny DUT in energy mode):
        each window is one ``infer N W``, measured between the DUT's two timestamp pulses as the
        MLPerf Tiny energy runner measures it. Its one row per window is the mean of the window's
        N inferences: such firmware times no single inference and no stage other than inference."""
        from ..boards.mlperftiny import energy_run
        from ..inputs import seeded_input

        plan, store, log = self.plan, self.store, self.store.log
        bp = plan.boards[i]
        info, model = dev.info, dev.model
        if getattr(dev, "mode", None) != "energy":
            raise ConfigError(f"{label}: {info.board_name} runs performance-mode firmware: a session measures "
                              "energy between its timestamp pulses",
                              "flash its energy-mode build (or use emu:mlperftiny?mode=energy)")
        if plan.model_for(i) != plan.model and Path(plan.model_for(i)).stem != model.name:
            log.warning("%s: the plan names model %s, but the board runs its built-in %s", label,
                        plan.model_for(i), model.name)
        tensor = seeded_input(model.inputs[0], seed=INPUT_SEED)
        address = monitor_address(bp, dev)
        with open_monitor(address, board=dev.emulated_board) as monitor:
            monitor.configure(supply_v=bp.supply_v)
            if monitor.info.can_source:
                monitor.set_dut_power(True)
            mi = monitor.info.as_dict()
            store.record_board(label, {
                **_device_record(bp, info), "stages": ["inference"],
                "model": {"name": model.name, "size": model.size, "format": model.format, "engine": model.engine,
                          "macs": model.macs, "built_in": True},
                "input": {"kind": "seeded uniform over the input's range", "seed": INPUT_SEED},
                "monitor": mi, "monitor_address": address, "supply_v": bp.supply_v,
            })
            next_index = (max(done) + 1) if done else 1
            for _ in range(plan.windows - len(done)):
                if self._stopping.is_set():
                    return
                warmup = plan.warmup_frames if next_index == 1 else 0
                run = energy_run(dev, monitor, tensor, inferences=plan.frames_per_window, warmup=warmup)
                n = run.inferences
                row = {"board": label, "window": next_index, "frame": 0, "inferences": n,
                       "stage": "inference", "stage_id": stage_id("inference"), "start_index": run.span[0],
                       "stop_index": run.span[1], "n_samples": run.span[1] - run.span[0], "duration_ms": run.latency_ms,
                       "device_ms": run.latency_ms, "mean_mw": run.mean_power_mw,
                       "energy_mj": run.energy_uj_per_inference / 1e3, "energy_above_idle_mj": run.energy_uj_per_inference / 1e3,
                       "err_bound_mj": run.err_bound_uj / n / 1e3, "n_missing": run.missing, "low_confidence": False}
                window = {"board": label, "window": next_index, "rows": [row], "samples": len(run.trace.samples),
                          "missing": run.missing, "idle_mw": None, "clock_ppm": None,
                          "cross_check": {"max_residual_samples": 0.0,
                                          "method": "MLPerf Tiny timestamp pulses: the DUT reports no stage times"}}
                store.write_window(label, next_index, run.trace, window)
                log.info("%s window %d: infer %d, %.3f ms and %.4f mJ per inference, %.1f mW", label, next_index,
                         n, run.latency_ms, run.energy_uj_per_inference / 1e3, run.mean_power_mw)
                self._advance(n + warmup, f"{label} window {next_index}/{plan.windows}")
                next_index += 1

    def _window(self, label, index, dev, monitor, frames, stage_order) -> None:
        plan, store, log = self.plan, self.store, self.store.log
        self._catch_up(monitor)  # everything before the window is not part of it
        results = dev.capture(count=frames, period_us=plan.period_us)
        time.sleep(plan.settle_ms / 1000)
        dev.model_info()  # a request after the idle: an emulated board books it, real ones ignore it
        blocks = self._catch_up(monitor)
        first = stage_id(stage_order[0])
        deadline = time.monotonic() + CATCH_UP_LIMIT_S
        # USB and thread scheduling can hold samples back: read on until the last frame has ended
        # on the marker pins (a broken marker wiring then fails the checks below, after the limit)
        while (not _frames_complete(blocks, monitor.info.sample_rate_hz, first, len(results))
               and time.monotonic() < deadline):
            more = (monitor.read_available() if hasattr(monitor, "read_available")
                    else [b for b in [monitor.read(timeout=0.05)] if b is not None])
            if not more and hasattr(monitor, "read_available"):
                time.sleep(0.01)
            blocks += more
        trace = Trace.concat(blocks, monitor.info.sample_rate_hz)
        try:
            window = analyse_window(trace, results, label=label, window=index, stage_order=stage_order,
                                    checks=plan.checks, clock_hz=dev.info.clock_hz or 1e6)
        except SessionInvalid as err:
            path = store.write_rejected(label, index, trace, {"board": label, "window": index,
                                                              "reason": err.message})
            log.error("%s window %d rejected: %s (trace kept in %s)", label, index, err.message, path.name)
            raise
        store.write_window(label, index, trace, window)
        per = {}
        for r in window["rows"]:
            per.setdefault(r["stage"], []).append(r["energy_mj"])
        log.info("%s window %d: %d frames, %d samples, %d lost, idle %.1f mW, markers vs board "
                 "max %.2f samples; %s", label, index, len(results), window["samples"], window["missing"],
                 window["idle_mw"] or 0.0, window["cross_check"]["max_residual_samples"],
                 ", ".join(f"{k} {sum(v) / len(v):.4f} mJ" for k, v in per.items()))
        self._device_log(dev, label)
        self._advance(frames, f"{label} window {index}/{plan.windows}")

    def _catch_up(self, monitor) -> list:
        """All samples up to now: what an emulated monitor can read at once, or, for a streaming
        monitor, what arrives until the data in flight at the time of the call is in."""
        if hasattr(monitor, "read_available"):
            return monitor.read_available()
        settle_ns = int(max(self.plan.settle_ms, 20) * 1e6)
        t_call = time.monotonic_ns()
        blocks = []
        while True:
            block = monitor.read(timeout=0.05)
            now = time.monotonic_ns()
            if block is None:
                if now - t_call >= settle_ns:
                    break
            else:
                blocks.append(block)
                if block.host_rx_ns >= t_call + settle_ns:
                    break
            if now - t_call > CATCH_UP_LIMIT_S * 1e9:
                break
        return blocks

    def _device_log(self, dev, label) -> None:
        logs = getattr(dev, "logs", None)
        while logs:
            entry = logs.popleft()
            if isinstance(entry, tuple) and len(entry) == 3:  # (level, board time us, text)
                level, t_us, text = entry
                self.store.log.info("%s device [%s, t=%s us]: %s", label, level, t_us, text)
            else:
                self.store.log.info("%s device: %s", label, entry)


def _device_record(bp, info) -> dict:
    """What the manifest says of a board: where it was reached and what it said about itself."""
    return {"port": bp.port, "device": info.board_name, "board": info.board, "serial": info.serial,
            "firmware": info.fw_version, "clock_hz": info.clock_hz}


def _frames_complete(blocks, rate: float, first_stage: int, want: int) -> bool:
    if not blocks:
        return False
    trace = Trace.concat(blocks, rate)
    if len(trace.samples) == 0 or trace.samples["digital"][-1] != 0:
        return False  # still inside a frame
    segments = align.decode_markers(trace)
    starts = np.flatnonzero(segments["stage_id"] == first_stage)
    return len(starts) >= want


def finalize(store: SessionStore, plots: bool = True) -> dict:
    """Tables, summary and (``plots``) plots from the completed windows on disk.

    A session that stops writes its tables and summary but no plots: Ctrl-C or SIGTERM should
    end it within a fraction of a second (docker stop waits 10 s), and drawing takes longer than
    the rest of the summary; the plots appear when the session completes."""
    plan = store.plan()
    manifest = store.manifest()
    state = store.state()
    store.write_tables()
    boards = {}
    for i in range(len(plan.boards)):
        label = plan.label_of(i)
        windows = store.windows(label)
        rows = [r for w in windows for r in w["rows"]]
        m = manifest["boards"].get(label, {})
        if not windows:
            continue
        meta = {"device": m.get("device"), "board": m.get("board"), "port": m.get("port"),
                "model": (m.get("model") or {}).get("name"), "monitor": (m.get("monitor") or {}).get("model"),
                "sample_rate_hz": (m.get("monitor") or {}).get("sample_rate_hz"), "supply_v": m.get("supply_v")}
        boards[label] = board_summary(rows, windows, list(m.get("stages") or []), meta)
        if not plots:
            continue
        try:
            first = store.completed_windows(label)[0]
            trace = Trace.load(store.path / label / f"window_{first:03d}.npz")
            plot_trace(trace, windows[0]["rows"], store.path / f"trace_{label}.png",
                       f"{label}: {meta['device']}, {meta['model']} ({meta['monitor']})")
        except (OSError, ValueError) as err:
            store.log.warning("%s: no trace plot: %s", label, err)
    summary = {"session": str(store.path), "name": plan.name, "status": state["status"],
               "reason": state.get("reason"), "boards": boards}
    store.write_summary(summary, session_markdown(summary))
    if boards and plots:
        plot_energy(list(boards.items()), store.path / "energy.png", f"{plan.name}: energy and latency per frame")
    return summary


def _interrupted_before_start(err: KeyboardInterrupt, verb: str) -> SessionNotStarted:
    how = "stopped by SIGTERM" if isinstance(err, Terminated) else "interrupted by the user"
    return SessionNotStarted(f"session not {verb}: {how} while checking the boards; nothing was written",
                             exit_code=143 if isinstance(err, Terminated) else 130)


def run_session(plan: Plan, out_dir: str | Path = "sessions", *, plan_dir: Path | None = None,
                progress: bool = True, console=None, connect=_connect) -> tuple[SessionStore, dict]:
    """Check the plan against the boards and monitors, then create the folder and run.

    Raises SessionNotStarted (nothing written) when the plan cannot run, SessionStopped when it
    stopped after keeping something."""
    plan.validate()  # the plan schema, for a Plan built in Python too
    # a model given as a path is recorded absolute, so `resume` finds it from anywhere
    for holder in [plan] + list(plan.boards):
        name = holder.model
        if name:
            for cand in ([Path(name)] + ([plan_dir / name] if plan_dir else [])):
                if cand.is_file():
                    holder.model = str(cand.resolve())
                    break
    with _sigterm_stops_gracefully():
        try:
            preflight(plan, plan_dir, connect, parallel=plan.in_parallel())
        except KeyboardInterrupt as err:
            raise _interrupted_before_start(err, "started") from None
        store = SessionStore.create(out_dir, plan)
        runner = SessionRunner(store, plan, plan_dir=plan_dir, progress=progress, console=console,
                               connect=connect, fresh=True)
        return store, runner.run()


def _apply_moves(plan: Plan, moves: dict) -> None:
    """Boards an earlier resume moved to a spare keep their label and use the spare's port."""
    for i, bp in enumerate(plan.boards):
        label = plan.label_of(i)
        if label in moves:
            bp.label, bp.port = label, moves[label]


def _assign_spares(store: SessionStore, plan: Plan, missing: set[str], spares: list[str], connect) -> dict:
    """Move each board with missing windows whose port no longer opens to a spare of the same kind
    (the kind its completed windows were measured on); {label: spare port} of the moves made."""
    kinds = {label: b.get("board") for label, b in store.manifest().get("boards", {}).items()}
    free, moves = list(spares), {}
    for i, bp in enumerate(plan.boards):
        label = plan.label_of(i)
        if label not in missing or not free:
            continue
        try:
            connect(bp.port).close()
            continue
        except HostlinkError as err:
            reason = err.message
        want = kinds.get(label)
        for spare in free:
            try:
                dev = connect(spare)
            except HostlinkError:
                continue  # a spare that does not open is no spare
            try:
                kind = dev.info.board
            finally:
                dev.close()
            if want is None or kind == want:
                bp.label, bp.port = label, spare
                free.remove(spare)
                moves[label] = spare
                break
        else:
            raise SessionNotStarted(f"session not resumed: {label}: {reason}; no spare is a {want or 'matching'} board",
                                    "give --spare with a board of the same kind")
    return moves


def resume_session(path: str | Path, *, progress: bool = True, console=None,
                   connect=_connect, spares: list[str] = ()) -> tuple[SessionStore, dict]:
    """Run the windows a session folder is missing; stray temporaries of killed writers go first.

    ``spares``: ports (e.g. ``labgrid://PLACE``) to finish on when a board's own port is gone."""
    store = SessionStore.open(path)
    plan = store.plan()
    state = store.state()
    _apply_moves(plan, state.get("moves") or {})
    with _sigterm_stops_gracefully():
        store.clean_temporaries()
        if state["status"] == "complete":
            return store, finalize(store)
        missing = {plan.label_of(i) for i in range(len(plan.boards))
                   if len(store.completed_windows(plan.label_of(i))) < plan.windows}
        try:
            moves = _assign_spares(store, plan, missing, list(spares), connect)
            preflight(plan, None, connect, labels=missing, verb="resumed", parallel=plan.in_parallel())
        except KeyboardInterrupt as err:
            raise _interrupted_before_start(err, "resumed") from None
        if moves:
            with store._lock:
                st = store.state()
                st["moves"] = {**(st.get("moves") or {}), **moves}
                store.write_state(st)
        store.open_transcript()
        store.log.info("resuming after: %s (%s)", state["status"], state.get("reason"))
        for label, port in moves.items():
            store.log.info("%s: its board is gone; finishing its windows on the spare %s", label, port)
        runner = SessionRunner(store, plan, plan_dir=None, progress=progress, console=console, connect=connect)
        return store, runner.run()
