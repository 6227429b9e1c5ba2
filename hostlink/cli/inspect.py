"""`hostlink inspect MODEL`: what is in a model file and which boards would take it."""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..errors import ConfigError
from ..models.admission import BoardLimits, check, fmt_bytes
from ..models.formats import analyze_file
from ..models.tflite import ModelReport


def board_limits(names: tuple[str, ...] = ()) -> dict[str, BoardLimits]:
    """Limits of the named boards (all when none): the emulator profiles are the one source."""
    from ..emulator.profiles import BOARD_NAMES, get_profile

    return {get_profile(n).name: get_profile(n).limits for n in (names or BOARD_NAMES)}


def verdicts(report: ModelReport, limits: dict[str, BoardLimits]) -> dict[str, dict]:
    out = {}
    for board, lim in limits.items():
        refusals = check(report, lim)
        out[board] = {"ok": not refusals,
                      "reasons": [{"code": r.code.name, "message": r.message} for r in refusals]}
    return out


def _tensor_rows(table: Table, kind: str, tensors) -> None:
    for t in tensors:
        quant = f"scale {t.scale:.6g}, zero point {t.zero_point}" if t.scale else "-"
        table.add_row(kind, t.name, t.dtype, "x".join(map(str, t.shape)) or "scalar", quant)


def _print(report: ModelReport, boards: dict[str, dict], console: Console) -> None:
    arena = (fmt_bytes(report.arena_bytes) + f" ({report.arena_bytes:,} bytes)"
             if report.arena_bytes is not None else f"unknown: {report.arena_error}")
    console.print(f"[bold]{report.name}[/]  {report.format}, {fmt_bytes(report.size_bytes)} "
                  f"({report.size_bytes:,} bytes)")
    console.print(f"params {report.params:,}   MACs {report.macs:,} ({report.macs / 1e6:.2f} M)   "
                  f"peak tensor arena (tflite-micro) {arena}")
    quant = "INT8" if report.int8 else f"not INT8 (float ops: {', '.join(report.float_ops)})"
    console.print(f"quantization: {quant}"
                  + (f"   custom ops: {', '.join(report.custom_ops)}" if report.custom_ops else ""))

    io = Table(title="inputs and outputs", title_justify="left")
    for col in ("", "name", "dtype", "shape", "quantization"):
        io.add_column(col)
    _tensor_rows(io, "in", report.inputs)
    _tensor_rows(io, "out", report.outputs)
    console.print(io)

    ops = Table(title="ops", title_justify="left")
    ops.add_column("op")
    ops.add_column("count", justify="right")
    for op, n in sorted(report.op_counts.items(), key=lambda kv: (-kv[1], kv[0])):
        ops.add_row(op, str(n))
    console.print(ops)

    layers = Table(title="layers", title_justify="left")
    for col, just in (("#", "right"), ("op", "left"), ("output", "left"), ("params", "right"),
                      ("MACs", "right"), ("% MACs", "right")):
        layers.add_column(col, justify=just)
    for layer in report.layers:
        share = f"{100 * layer.macs / report.macs:.1f}" if report.macs and layer.macs else ""
        layers.add_row(str(layer.index), layer.op, "x".join(map(str, layer.output_shape)),
                       f"{layer.params:,}" if layer.params else "", f"{layer.macs:,}" if layer.macs else "",
                       share)
    layers.add_section()
    layers.add_row("", "total", "", f"{report.params:,}", f"{report.macs:,}", "100.0" if report.macs else "")
    console.print(layers)

    verdict = Table(title="boards", title_justify="left")
    verdict.add_column("board")
    verdict.add_column("verdict")
    verdict.add_column("reasons")
    for board, v in boards.items():
        reasons = "\n".join(f"{r['code']}: {r['message']}" for r in v["reasons"])
        verdict.add_row(board, "[green]accepted[/]" if v["ok"] else "[red]refused[/]", reasons)
    console.print(verdict)


def timings(data: bytes, report: ModelReport, judged: dict[str, dict]) -> dict[str, dict]:
    """Predicted frame of every accepted board, on each of its compute paths: the same
    ``board_frame`` the emulator times its frames with."""
    from ..emulator.profiles import get_profile
    from ..emulator.timing import board_frame

    out: dict[str, dict] = {}
    if report.format != "tflite":
        return out
    for board, verdict in judged.items():
        if not verdict["ok"]:
            continue
        prof = get_profile(board)
        out[board] = {path: board_frame(board, data, path=path, report=report, engine=prof.engine_label[path])
                      for path in prof.paths}
    return out


def _pct(e) -> str:
    return "n/a" if e is None else f"{100 * e:.0f} %"


def frame_json(f) -> dict:
    return {
        "engine": f.engine, "total_ms": f.frame_us / 1000, "energy_mj": f.energy_mj,
        "stages": [{"stage": s.stage.name.lower(), "ms": s.duration_us / 1000, "power_mw": s.power_mw,
                    "energy_mj": s.energy_mj, "rel_error": s.rel_error, "max_rel_error": s.max_rel_error,
                    "source": s.source} for s in f.stages],
        "layers": [{"index": r.index, "op": r.op, "op_class": r.op_class, "macs": r.macs, "us": r.us, "unit": r.unit}
                   for r in f.layers],
        "overhead_us": f.overhead_us, "overhead_source": f.overhead_source, "energy_basis": f.notes[0] if f.notes else "",
    }


def _print_timing(board: str, f, console: Console) -> None:
    from ..protocols import Stage

    inf = f.stage(Stage.INFERENCE)
    layers = Table(title=f"{board}, {f.path} ({f.engine}): predicted inference per layer", title_justify="left")
    for col, just in (("#", "right"), ("op", "left"), ("class", "left"), ("MACs", "right"), ("on", "left"),
                      ("us", "right"), ("%", "right")):
        layers.add_column(col, justify=just)
    for r in f.layers:
        layers.add_row(str(r.index), r.op, r.op_class, f"{r.macs:,}" if r.macs else "", r.unit, f"{r.us:,.1f}",
                       f"{100 * r.us / inf.duration_us:.1f}" if inf.duration_us else "")
    layers.add_row("", "overhead", "", "", "", f"{f.overhead_us:,.1f}",
                   f"{100 * f.overhead_us / inf.duration_us:.1f}" if inf.duration_us else "")
    layers.add_section()
    layers.add_row("", "inference", "", "", "", f"{inf.duration_us:,.1f}",
                   f"± {_pct(inf.rel_error)}" if inf.rel_error is not None else "± n/a")
    console.print(layers)
    st = Table(title=f"{board}, {f.path}: predicted frame", title_justify="left")
    for col, just in (("stage", "left"), ("ms", "right"), ("mW", "right"), ("mJ", "right"), ("± (fit)", "right")):
        st.add_column(col, justify=just)
    for s in f.stages:
        err = "" if s.stage != Stage.INFERENCE else (
            f"{_pct(s.rel_error)} (max {_pct(s.max_rel_error)})" if s.rel_error is not None else "n/a")
        st.add_row(s.stage.name.lower(), f"{s.duration_us / 1000:.3f}", f"{s.power_mw:.1f}", f"{s.energy_mj:.3f}", err)
    st.add_section()
    st.add_row("total", f"{f.frame_us / 1000:.3f}", "", f"{f.energy_mj:.3f}", "")
    console.print(st)
    console.print(f"inference: {inf.source}")
    if inf.rel_error is None:
        console.print("± n/a: this path has one calibration point, so no fit error to show")


def report_json(report: ModelReport, boards: dict[str, dict], frames: dict | None = None) -> dict:
    out = report.to_json()
    out["boards"] = boards
    if frames is not None:
        out["timing"] = {b: {p: frame_json(f) for p, f in paths.items()} for b, paths in frames.items()}
    return out


@click.command("inspect")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--board", "boards", multiple=True, metavar="NAME",
              help="Judge admission for this board (repeatable). Default: the global --board, else all.")
@click.pass_context
def inspect_cmd(ctx, model, as_json, boards):
    """Show a model's inputs, outputs, ops, params, MACs per layer and tensor arena, and whether
    each board would accept it (and why not). With --board, also the predicted time of every layer
    and stage on each of the board's compute paths, with the fit's error (docs/timing-model.md).
    Exit status 0 whenever the file could be read."""
    root = ctx.find_root().obj or {}
    if not boards and root.get("board"):
        boards = (root["board"],)
    limits = board_limits(tuple(boards))
    if not Path(model).exists():  # a bundled model by name (tinytracker_int8.tflite), as everywhere
        from ..bundled import find_model

        try:
            model = str(find_model(model))
        except ConfigError:
            pass  # analyze_file names the missing file
    report = analyze_file(model, with_arena=True)
    judged = verdicts(report, limits)
    # per-layer and per-stage predictions only for boards named on the command line
    frames = timings(Path(model).read_bytes(), report, judged) if boards else None
    if as_json:
        click.echo(json.dumps(report_json(report, judged, frames), indent=2))
    else:
        console = Console()
        _print(report, judged, console)
        for board, paths in (frames or {}).items():
            for f in paths.values():
                _print_timing(board, f, console)


def register(group: click.Group) -> None:
    group.add_command(inspect_cmd)
