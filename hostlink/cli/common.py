"""Helpers shared by the CLI modules: connecting, tracing, progress bars, output."""
import json
import sys

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from .. import protocols as P
from ..api import connect
from ..errors import ConfigError

err_console = Console(stderr=True)
# Piped output (make demo, CI logs) gets a fixed, wide layout instead of rich's 80 columns.
out_console = Console(width=None if sys.stdout.isatty() else 120)


def trace_printer(direction: str, frame) -> None:
    try:
        name = P.MsgType(frame.type).name
    except ValueError:
        name = f"0x{frame.type:02x}"
    head = frame.payload[:24].hex(" ")
    more = "..." if len(frame.payload) > 24 else ""
    click.echo(f"{direction} {name:<13} seq={frame.seq:<5} flags={frame.flags:#04x} len={len(frame.payload):<6} {head}{more}",
               err=True)


def open_device(ctx: click.Context, board: str | None = None, **emulator_options):
    """Connect to the port (or emulator) the global options name; check the board kind if asked."""
    obj = ctx.find_root().obj or {}
    want = board or obj.get("board")
    from ..config import Timeouts

    scale = obj.get("timeout_scale", 1.0)
    base = Timeouts()
    timeouts = Timeouts(base_s=base.base_s * scale, hello_s=base.hello_s * scale)
    dev = connect(obj.get("port"), board=want, trace=trace_printer if obj.get("trace") else None,
                  timeouts=timeouts, **emulator_options)
    if want and dev.info.board != want.lower():
        dev.close()
        raise ConfigError(f"the board on {dev.link.url} is {dev.info.board}, not {want}",
                          "wrong --board, or wrong --port?")
    return dev


def upload_progress(label: str):
    """A rich progress bar on stderr; returns (progress, callback)."""
    progress = Progress(TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                        TimeRemainingColumn(), console=err_console, transient=True, disable=not sys.stderr.isatty())
    task = progress.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, update


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def frames_progress(label: str):
    """A frame counter on stderr for long captures; returns (progress, callback)."""
    from rich.progress import MofNCompleteColumn

    progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=err_console, transient=True, disable=not sys.stderr.isatty())
    task = progress.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, update
