"""`hostlink inspect MODEL`: what is in a model file and which boards would take it."""
from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

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


def report_json(report: ModelReport, boards: dict[str, dict]) -> dict:
    out = report.to_json()
    out["boards"] = boards
    return out


@click.command("inspect")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--board", "boards", multiple=True, metavar="NAME",
              help="Judge admission for this board (repeatable). Default: the global --board, else all.")
@click.pass_context
def inspect_cmd(ctx, model, as_json, boards):
    """Show a model's inputs, outputs, ops, params, MACs per layer and tensor arena, and whether
    each board would accept it (and why not). Exit status 0 whenever the file could be read."""
    root = ctx.find_root().obj or {}
    if not boards and root.get("board"):
        boards = (root["board"],)
    limits = board_limits(tuple(boards))
    report = analyze_file(model, with_arena=True)
    judged = verdicts(report, limits)
    if as_json:
        click.echo(json.dumps(report_json(report, judged), indent=2))
    else:
        _print(report, judged, Console())


def register(group: click.Group) -> None:
    group.add_command(inspect_cmd)
