"""Helpers shared by the CLI modules: checked option types, connecting, tracing, progress bars, output.

Every option value is checked where it enters (a click type below), so a bad value is refused
before a board is opened or a file written, with one line that names the option, the accepted
range and an example.
"""
import json
import math
import re
import sys

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from .. import protocols as P
from ..api import connect
from ..errors import ConfigError
from ..limits import MAX_FRAMES, MAX_PERIOD_US, MAX_WINDOWS  # noqa: F401  (re-exported for the command modules)

err_console = Console(stderr=True)
# Piped output (make demo, CI logs) gets a fixed, wide layout instead of rich's 80 columns.
out_console = Console(width=None if sys.stdout.isatty() else 120)


def trace_printer(direction: str, frame) -> None:
    if isinstance(frame, str):  # a board with a text protocol (mlperftiny) traces its lines
        click.echo(f"{direction} {safe_text(frame)}", err=True)
        return
    try:
        name = P.MsgType(frame.type).name
    except ValueError:
        name = f"0x{frame.type:02x}"
    head = frame.payload[:24].hex(" ")
    more = "..." if len(frame.payload) > 24 else ""
    click.echo(f"{direction} {name:<13} seq={frame.seq:<5} flags={frame.flags:#04x} len={len(frame.payload):<6} {head}{more}",
               err=True)


def timeouts_for(ctx: click.Context):
    """The client's deadlines scaled by the global --timeout-scale (every derived deadline, HELLO's too)."""
    from ..config import Timeouts

    obj = ctx.find_root().obj or {}
    return Timeouts().scaled(obj.get("timeout_scale", 1.0))


def connect_to(ctx: click.Context, port: str | None = None, board: str | None = None, **emulator_options):
    """The one way the CLI connects: ``port`` (else the global --port), the board kind ``board``
    (else the global --board), the global --trace and every deadline scaled by --timeout-scale."""
    obj = ctx.find_root().obj or {}
    return connect(port or obj.get("port"), board=board or obj.get("board"),
                   trace=trace_printer if obj.get("trace") else None, timeouts=timeouts_for(ctx), **emulator_options)


def open_device(ctx: click.Context, board: str | None = None, **emulator_options):
    """Connect to the port (or emulator) the global options name; check the board kind if asked."""
    want = board or (ctx.find_root().obj or {}).get("board")
    dev = connect_to(ctx, board=want, **emulator_options)
    if want and dev.info.board != want.lower():
        dev.close()
        raise ConfigError(f"the board on {dev.link.url} is {shown(dev.info.board)}, not {want}",
                          "wrong --board, or wrong --port?")
    return dev


def json_option(help_text: str = "Print JSON."):
    """``--json`` (as ``as_json``), the same on every command."""
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def load_input(path: str | None):
    """A host input tensor from a .npy file (``--input``), or None."""
    import numpy as np

    if not path:
        return None
    try:
        tensor = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ConfigError(f"cannot read {path} as a .npy array: {exc}", "save one with numpy.save(path, array)") from None
    if not isinstance(tensor, np.ndarray):
        raise ConfigError(f"{path} holds several arrays (.npz); --input takes one .npy array",
                          "save one with numpy.save(path, array)")
    return tensor


# ---------------------------------------------------------------------------------------------- text
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe_text(value) -> str:
    """``value`` as text a terminal shows literally: control characters (escape sequences, carriage
    returns, bidi overrides) become visible ``\\xNN`` / ``\\uNNNN`` escapes. For names a board reports."""
    text = str(value)
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def shown(value) -> str:
    """safe_text for rich output: also escapes rich markup, so ``[bold]`` in a name prints as typed."""
    from rich.markup import escape

    return escape(safe_text(value))


# ---------------------------------------------------------------------------------------------- option types
class OptionValueError(click.BadParameter):
    """A refused option value; the CLI prints ``error: --opt <message>`` and ``hint: e.g. --opt <example>``."""

    def __init__(self, message, ctx=None, param=None, example: str | None = None, hint: str | None = None,
                 sep: str = " "):
        super().__init__(message, ctx=ctx, param=param)
        self.example, self.hint, self.sep = example, hint, sep


class _Checked(click.ParamType):
    example: str | None = None

    def refuse(self, what: str, value, param, ctx):
        got = safe_text(value if isinstance(value, str) else repr(value))
        if len(got) > 40:
            got = got[:37] + "..."
        raise OptionValueError(f"must be {what} (got '{got}')" if got else f"must be {what} (got nothing)",
                               ctx=ctx, param=param, example=self.example)


class Number(_Checked):
    """An int or a finite float within bounds: ``Number(int, min=1)``, ``Number(float, min=0, min_open=True)``."""

    def __init__(self, kind=float, min=None, max=None, min_open=False, example=None):
        self.kind, self.min, self.max, self.min_open = kind, min, max, min_open
        self.example = example if example is not None else str(min if min is not None and not min_open else 1)
        self.name = "integer" if kind is int else "number"

    def describe(self) -> str:
        what = "a whole number" if self.kind is int else "a finite number"
        if self.min is not None and self.max is not None and not self.min_open:
            return f"{what} from {self.min} to {self.max}"
        parts = []
        if self.min is not None:
            parts.append(f"> {self.min}" if self.min_open else f">= {self.min}")
        if self.max is not None:
            parts.append(f"<= {self.max}")
        return f"{what} {' and '.join(parts)}".strip()

    def convert(self, value, param, ctx):
        if isinstance(value, bool):
            self.refuse(self.describe(), value, param, ctx)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            try:
                number = int(text, 10) if self.kind is int else float(text)
            except ValueError:
                self.refuse(self.describe(), value, param, ctx)
        if self.kind is int and isinstance(number, float):
            if not number.is_integer():
                self.refuse(self.describe(), value, param, ctx)
            number = int(number)
        if self.kind is float and not math.isfinite(number):
            self.refuse(self.describe(), value, param, ctx)
        low_bad = self.min is not None and (number <= self.min if self.min_open else number < self.min)
        if low_bad or (self.max is not None and number > self.max):
            self.refuse(self.describe(), value, param, ctx)
        return self.kind(number)


class Choice(_Checked):
    """Like click.Choice (case-insensitive), with the uniform message and the closest choice as a hint."""

    def __init__(self, choices, what="one of"):
        self.choices = tuple(choices)
        self.what = what
        self.name = "choice"
        self.example = self.choices[0]

    def get_metavar(self, param, *args, **kwargs):
        return "[" + "|".join(self.choices) + "]"

    def convert(self, value, param, ctx):
        if value in self.choices:
            return value
        for c in self.choices:
            if str(value).lower() == c.lower():
                return c
        import difflib

        close = difflib.get_close_matches(str(value), self.choices, n=1)
        self.example = close[0] if close else self.choices[0]
        self.refuse(f"{self.what} {', '.join(self.choices)}", value, param, ctx)


class BoardName(Choice):
    """A board kind from the board registry (hostlink.boards.registry); case, '-' and '_' ignored."""

    def __init__(self, names=None):
        from ..boards import registry

        self._names = tuple(names) if names is not None else None
        super().__init__(self._names or registry.names(), "a board:")

    def convert(self, value, param, ctx):
        from ..boards import registry

        names = self._names or registry.names()
        key = registry.normalise(value)
        if key in names:
            return key
        self.example = names[0]
        raise OptionValueError(f"unknown board {safe_text(value)!r}", ctx=ctx, param=param, sep=": ",
                               hint=f"choose one of: {', '.join(names)}")


class PortURL(_Checked):
    """A board address hostlink can open (checked by hostlink.ports.check_port before anything opens)."""

    name = "url"
    example = "emu:imx500"

    def convert(self, value, param, ctx):
        from ..ports import check_port

        try:
            return check_port(str(value))
        except ConfigError as err:
            raise OptionValueError(safe_text(err.message), ctx=ctx, param=param, hint=err.hint, sep=": ") from None


class BoardOrPort(_Checked):
    """A board name (imx500) or a board address (emu:imx500, /dev/ttyACM0, socket://HOST:PORT)."""

    name = "board"
    example = "emu:imx500"

    def convert(self, value, param, ctx):
        text = str(value)
        if ":" in text or "/" in text:
            return PortURL().convert(text, param, ctx)
        return BoardName().convert(text, param, ctx)


class HostPort(_Checked):
    """``HOST:PORT`` to listen on (port 0: any free one); HOST defaults to loopback."""

    name = "host:port"
    example = "127.0.0.1:5555"

    def convert(self, value, param, ctx):
        text = str(value).strip()
        host, sep, port = text.rpartition(":")
        what = "HOST:PORT with a port from 0 to 65535"
        if not sep or not re.fullmatch(r"\d{1,5}", port) or int(port) > 65535:
            self.refuse(what, value, param, ctx)
        host = host or "127.0.0.1"
        if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", host):
            self.refuse(what + " (HOST: an IPv4 address or a host name)", value, param, ctx)
        return f"{host}:{int(port)}"


class Dimensions(_Checked):
    """``WxH`` (``Dimensions(int)``: pixels) or ``WxH[+TOP]`` in cm (``Dimensions(float, offset=True)``)."""

    def __init__(self, kind=int, low=1, high=8192, offset=False, example="640x480"):
        self.kind, self.low, self.high, self.offset, self.example = kind, low, high, offset, example
        self.name = "WxH"

    def convert(self, value, param, ctx):
        text = str(value).strip().lower()
        size, plus, top = text.partition("+") if self.offset else (text, "", "")
        unit = "whole numbers" if self.kind is int else "numbers"
        what = f"WIDTHxHEIGHT, {unit} from {self.low} to {self.high}" + (" (optionally +TOP in cm)" if self.offset else "")
        try:
            w, h = (self.kind(v) for v in size.split("x"))
            t = float(top) if plus else None
        except ValueError:
            self.refuse(what, value, param, ctx)
        if not all(math.isfinite(v) and self.low <= v <= self.high for v in (w, h)) or (
                t is not None and not (math.isfinite(t) and abs(t) <= self.high)):
            self.refuse(what, value, param, ctx)
        return (w, h) if not self.offset else (w, h, t)


class Text(_Checked):
    """A short free-text value (a name): no control characters, at most ``max_len`` characters."""

    def __init__(self, max_len=255, pattern=None, what=None, example="tinytracker"):
        self.max_len, self.pattern, self.what, self.example = max_len, pattern, what, example
        self.name = "text"

    def convert(self, value, param, ctx):
        text = str(value)
        what = self.what or f"text of 1 to {self.max_len} characters without control characters"
        if not text or len(text) > self.max_len or _CONTROL.search(text) or (
                self.pattern and not re.fullmatch(self.pattern, text)):
            self.refuse(what, value, param, ctx)
        return text


class IPv4(_Checked):
    """A dotted IPv4 address, or '' (meaning: none)."""

    name = "address"
    example = "10.10.10.1"

    def convert(self, value, param, ctx):
        import ipaddress

        text = str(value).strip()
        if not text:
            return ""
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            self.refuse("an IPv4 address like 10.10.10.1, or '' for none", value, param, ctx)


class MonitorURL(_Checked):
    """A power monitor address: SCHEME://... with a scheme hostlink.power knows."""

    name = "monitor"
    example = "emulated://ppk2"

    def convert(self, value, param, ctx):
        from ..power import SCHEMES

        text = str(value)
        scheme, sep, _ = text.partition("://")
        if not sep or scheme not in SCHEMES or _CONTROL.search(text):
            import difflib

            close = difflib.get_close_matches(scheme, SCHEMES, n=1)
            if close:
                self.example = f"{close[0]}://{text.partition('://')[2] or ''}" if sep else f"{close[0]}://"
            self.refuse(f"a monitor address {', '.join(s + '://...' for s in SCHEMES)}", value, param, ctx)
        return text




def echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def progress_bar(label: str, unit: str = "items"):
    """A rich progress bar on stderr (hidden when stderr is not a terminal); returns (progress,
    update(done, total)). ``unit="bytes"`` shows sizes and the transfer rate, else a count."""
    from rich.progress import MofNCompleteColumn

    columns = ((DownloadColumn(), TransferSpeedColumn()) if unit == "bytes" else (MofNCompleteColumn(),))
    progress = Progress(TextColumn(label), BarColumn(), *columns, TimeRemainingColumn(), console=err_console,
                        transient=True, disable=not sys.stderr.isatty())
    task = progress.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, update
