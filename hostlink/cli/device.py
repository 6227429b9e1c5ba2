"""Commands that talk to one board: boards, info, upload, capture, run, demo."""
import time
from pathlib import Path

import click
import numpy as np
from rich.table import Table

from ..bundled import bundled_model, find_model
from ..emulator.profiles import BOARD_NAMES, get_profile
from ..errors import ConfigError
from ..stats import STAGE_ORDER, StageSummary, stage_summary
from .common import (MAX_FRAMES, Choice, Number, Text, connect_to, echo_json, json_option, load_input, open_device,
                     out_console, progress_bar, safe_text, shown)


def _boards_found():
    try:
        from ..boards.discovery import find_boards
    except ImportError:
        return None
    return find_boards()


@click.command()
@json_option()
def boards(as_json):
    """List boards plugged in (by USB id and mode) and the emulator profiles."""
    found = _boards_found()
    from ..boards import registry

    emus = [dict(board=b.name, port=f"emu:{b.name}", title=b.title) for b in registry.boards()
            if b.emulator_profile is not None or b.serve_emulator is not None]
    usb = [] if found is None else [dict(board=b.board, mode=b.mode, vid=f"{b.vid:04x}", pid=f"{b.pid:04x}",
                                         serial=b.serial, port=b.port, description=b.description) for b in found]
    if as_json:
        echo_json(dict(usb=usb, emulators=emus))
        return
    t = Table(title="USB devices", title_justify="left")
    for col in ("board", "mode", "vid:pid", "serial", "port"):
        t.add_column(col)
    for b in usb:
        t.add_row(b["board"], b["mode"], f"{b['vid']}:{b['pid']}", shown(b["serial"] or ""), shown(b["port"] or ""))
    if usb:
        out_console.print(t)
    else:
        out_console.print("No boards plugged in" + ("" if found is not None else " (USB discovery unavailable)")
                          + "; the emulator is used by default.")
    e = Table(title="Emulated boards", title_justify="left")
    e.add_column("port")
    e.add_column("board")
    for b in emus:
        e.add_row(b["port"], b["title"])
    out_console.print(e)


@click.command()
@json_option()
@click.pass_context
def info(ctx, as_json):
    """Show what the board says about itself and its active model."""
    with open_device(ctx) as dev:
        model = dev.model_info()
        d = dev.info
        if as_json:
            echo_json(dict(device=d.__dict__ | {"capabilities": sorted(d.capabilities)}, model=model.__dict__))
            return
        # Every name below comes from the board: shown() keeps escape sequences and markup inert.
        out_console.print(f"[bold]{shown(d.board_name)}[/] on {shown(dev.link.url)}", highlight=False)
        out_console.print(f"  serial {shown(d.serial)}, firmware {shown(d.fw_version)}, protocol v{d.proto_version}, "
                          f"clock {d.clock_hz / 1e6:g} MHz, max payload {d.max_payload} B", highlight=False)
        out_console.print(f"  formats: {shown(', '.join(d.formats))}; stages: {shown(', '.join(d.stages))}", highlight=False)
        out_console.print("  memory: " + ", ".join(f"{shown(k)} {v / 1024:.0f} KB" for k, v in d.memory.items()),
                          highlight=False)
        out_console.print("  capabilities: " + shown(", ".join(sorted(d.capabilities))), highlight=False)
        if model.loaded:
            out_console.print(f"  model: {shown(model.name)} ({shown(model.format)}, {model.size / 1024:.1f} KB, "
                              f"{model.macs / 1e6:.2f} M MACs, "
                              f"arena {model.arena_bytes / 1024:.1f} KB) on {shown(model.engine)}, "
                              f"expected {model.expected_frame_us / 1000:.2f} ms/frame", highlight=False)
        else:
            out_console.print("  model: none loaded")


def _do_upload(dev, model, name=None, fmt=None, policy=None):
    """Upload ``model``: a path or a bundled model's name (tinytracker_int8.tflite)."""
    path = find_model(str(model))
    progress, update = progress_bar(f"upload {path.name}", "bytes")
    with progress:
        return dev.upload(path, name=name, fmt=fmt, progress=update, policy=policy)


def _upload_options(cmd):
    """--upload-budget and --min-chunk: how long an upload may retry, how small its chunks may get."""
    cmd = click.option("--min-chunk", type=click.IntRange(min=1), metavar="BYTES",
                       help="Smallest chunk the upload shrinks to on a lossy link (default 64).")(cmd)
    return click.option("--upload-budget", type=float, metavar="SECONDS",
                        help="Give up on the upload after this long (default: 20 s + 10x its time on the wire).")(cmd)


def _policy(upload_budget, min_chunk):
    from ..upload import UploadPolicy

    return UploadPolicy(budget_s=upload_budget, **({} if min_chunk is None else {"min_chunk": min_chunk}))


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--name", type=Text(255), help="Name stored on the board (default: file stem).")
@click.option("--format", "fmt", type=Choice(["tflite", "edgetpu-tflite", "imx500-packerout", "imx500-rpk"]),
              help="Override format detection.")
@_upload_options
@click.pass_context
def upload(ctx, model, name, fmt, upload_budget, min_chunk):
    """Upload MODEL and make it active once its CRC verifies on the board."""
    policy = _policy(upload_budget, min_chunk)
    with open_device(ctx) as dev:
        t = time.perf_counter()
        m = _do_upload(dev, model, name, fmt, policy)
        dt = time.perf_counter() - t
        click.echo(f"{safe_text(m.name)}: {m.size} bytes in {dt:.2f} s, active on {safe_text(dev.info.board)} "
                   f"({safe_text(m.engine)}; arena {m.arena_bytes / 1024:.1f} KB; expected {m.expected_frame_us / 1000:.2f} ms/frame)")


def _input_option(cmd):
    """``--input``: a host tensor instead of the sensor (the only input of a board without one)."""
    return click.option(
        "--input", "input_path", type=click.Path(exists=True, dir_okay=False),
        help="Run on this host tensor (.npy of the model's exact input shape) instead of the sensor: integers are "
             "taken as quantized values, floats are quantized with the input's scale and zero point; values the "
             "input cannot hold are refused, never wrapped.")(cmd)


def _result_json(r):
    return dict(frame=r.frame, total_ms=r.total_ms,
                stages={k: dict(start_us=v.start_us, end_us=v.end_us, ms=v.duration_ms) for k, v in r.stages.items()},
                outputs=[dict(name=s.name, dtype=s.dtype, shape=list(s.shape), values=s.dequantize(o).ravel()[:64].tolist())
                         for s, o in zip(r.output_specs, r.outputs)])


@click.command()
@click.option("--count", "-n", type=Number(int, min=1, max=MAX_FRAMES), default=1, show_default=True,
              help="Frames to capture.")
@click.option("--period-ms", type=Number(float, min=0, max=60_000, example="10"), default=0.0,
              help="Frame period on the board clock (0: back to back).")
@_input_option
@json_option()
@click.pass_context
def capture(ctx, count, period_ms, input_path, as_json):
    """Capture frames with the active model and print per-stage board timings."""
    tensor = load_input(input_path)
    with open_device(ctx) as dev:
        if not dev.model_info().loaded:
            raise ConfigError(f"no model is loaded on {dev.info.board}", "upload one first: hostlink upload MODEL")
        results = dev.capture(count=count, period_us=round(period_ms * 1000), input=tensor)
        if as_json:
            echo_json(dict(board=dev.info.board, results=[_result_json(r) for r in results]))
            return
        for r in results:
            stages = "  ".join(f"{safe_text(k)} {v.duration_ms:.3f}" for k, v in r.stages.items())
            outs = "; ".join(np.array2string(s.dequantize(o).ravel()[:8], precision=4) for s, o in zip(r.output_specs, r.outputs))
            click.echo(f"frame {r.frame}: {stages}  total {r.total_ms:.3f} ms  -> {outs}")


def _stage_table(rows: list[tuple[str, str, StageSummary]], title: str) -> Table:
    """One row per board, one column per stage (median ms)."""
    names = [n for n in STAGE_ORDER if any(n in s.stages for _, _, s in rows)]
    t = Table(title=title, title_justify="left")
    t.add_column("board")
    t.add_column("model")
    for n in names:
        t.add_column(n, justify="right")
    t.add_column("total", justify="right")
    for board, model, s in rows:
        cells = ["—" if n not in s.stages else f"{s.stages[n].median_ms:.2f}" for n in names]
        t.add_row(board, model, *cells, f"{s.total_ms:.2f}")
    return t


def _spread_table(s: StageSummary, title: str) -> Table:
    """One row per stage: median, min, max, IQR."""
    t = Table(title=title, title_justify="left")
    for col in ("stage", "median ms", "min ms", "max ms", "IQR ms"):
        t.add_column(col, justify="left" if col == "stage" else "right")
    for n, v in s.stages.items():
        t.add_row(shown(n), f"{v.median_ms:.3f}", f"{v.min_ms:.3f}", f"{v.max_ms:.3f}", f"{v.iqr_ms:.3f}")
    t.add_row("total", f"{s.total_ms:.3f}", f"{s.total_min_ms:.3f}", f"{s.total_max_ms:.3f}", "")
    return t


def run_model(dev, model, frames: int, warmup: int, policy=None, tensor=None):
    """Upload ``model`` (unless the board's firmware has its model built in), then time frames."""
    if "MODEL_BUILT_IN" in dev.info.capabilities:
        if model is not None and Path(str(model)).stem != dev.model.name:
            raise ConfigError(f"{dev.info.board_name} runs the model built into its firmware ({dev.model.name}); "
                              f"it cannot run {model}", f"leave MODEL out: hostlink run --input X.npy")
    elif model is None:
        raise ConfigError("run needs a MODEL (a path or a bundled model)", "e.g. hostlink run tinytracker_int8.tflite")
    else:
        _do_upload(dev, model, policy=policy)
    if warmup:
        dev.capture(count=warmup, input=tensor)
    progress, update = progress_bar(f"{dev.info.board}: frames")
    with progress:
        return dev.capture(count=frames, input=tensor, progress=update)


@click.command()
@click.argument("model", type=click.Path(dir_okay=False), required=False)
@click.option("--frames", "-n", type=Number(int, min=1, max=MAX_FRAMES, example="20"), default=20, show_default=True,
              help="Measured frames.")
@click.option("--warmup", type=Number(int, min=0, max=MAX_FRAMES, example="2"), default=2, show_default=True,
              help="Frames run and discarded first.")
@_input_option
@json_option("Print one JSON object.")
@_upload_options
@click.pass_context
def run(ctx, model, frames, warmup, input_path, as_json, upload_budget, min_chunk):
    """Upload MODEL (a path or a bundled model's name), capture N frames and print median/min/max per stage.

    A board whose firmware has its model built in (mlperftiny) takes no MODEL, only --input."""
    policy = _policy(upload_budget, min_chunk)
    tensor = load_input(input_path)
    with open_device(ctx) as dev:
        results = run_model(dev, model, frames, warmup, policy, tensor)
        s = stage_summary(results)
        name = Path(str(model)).name if model is not None else dev.model.name
        if as_json:
            echo_json(dict(board=dev.info.board, model=name, **s.to_json()))
            return
        out_console.print(_spread_table(s, f"{shown(name)}: {frames} frames on {shown(dev.info.board_name)} "
                                           f"({shown(dev.model.engine)})"))


@click.command()
@click.option("--frames", "-n", type=Number(int, min=1, max=MAX_FRAMES, example="20"), default=20, show_default=True,
              help="Measured frames per board.")
@json_option()
@click.pass_context
def demo(ctx, frames, as_json):
    """The main job on the emulators: upload the bundled demo model to each board, capture, tabulate."""
    rows, out = [], []
    for name in BOARD_NAMES:
        prof = get_profile(name)
        model = bundled_model(prof.demo_model)
        with connect_to(ctx, f"emu:{name}?path={prof.demo_path}") as dev:  # coralmicro: the Edge TPU path
            results = run_model(dev, model, frames, warmup=2)
            s = stage_summary(results)
            rows.append((name, model.name, s))
            out.append(dict(board=name, model=model.name, engine=dev.model.engine, **s.to_json()))
    if as_json:
        echo_json(out)
        return
    out_console.print(_stage_table(rows, f"Per-stage board timings in ms, median of {frames} frames (emulated boards)"))
    out_console.print("Timing model: docs/timing-model.md. Spresense runs TinyTrackerS: TinyTracker does not fit its "
                      "768 KB main-core RAM (try: hostlink inspect). Coral Micro: the Edge TPU path (timing of "
                      "the compiled graph, outputs by LiteRT); a plain .tflite on emu:coralmicro runs on the M7.")


def register(group: click.Group) -> None:
    for cmd in (boards, info, upload, capture, run, demo):
        group.add_command(cmd)
