"""The `hostlink` command: a thin click shell over the API, one module per command group.

Every error a user can cause prints as ``error: WHAT`` plus, where there is one, ``  hint: FIX``,
with a stable exit code, never a traceback: HostlinkError (exit_code of its class), a refused option
or a usage mistake (2), a file the OS refuses (2). Anything else is a bug in hostlink: it prints one
line asking for a report (exit 70); HOSTLINK_DEBUG=1 shows the traceback.
"""
import importlib
import os
import sys

import click

from ..errors import HostlinkError
from .common import BoardOrPort, Number, OptionValueError, PortURL, safe_text

#: Each module exposes ``register(group)``; order is the order of `hostlink --help`.
COMMAND_MODULES = [
    "hostlink.cli.device",
    "hostlink.cli.emulate",
    "hostlink.cli.inspect",
    "hostlink.cli.convert",
    "hostlink.cli.flash",
    "hostlink.cli.doctor",
    "hostlink.cli.session",
    "hostlink.cli.demos",
    "hostlink.cli.farm",
]

#: Exit code for a bug in hostlink (sysexits.h EX_SOFTWARE), distinct from every user error.
INTERNAL_ERROR_EXIT = 70


def fail(message: str, hint: str | None = None, exit_code: int = 2):
    """Print ``error: MESSAGE`` (+ ``  hint: HINT``), one line each, and exit."""
    click.echo(f"error: {_one_line(message)}", err=True)
    if hint:
        click.echo(f"  hint: {_one_line(hint)}", err=True)
    sys.exit(exit_code)


def _one_line(text: str) -> str:
    return safe_text(" ".join(str(text).split()))  # tabs and newlines in a message become single spaces


def _command_path(ctx) -> str:
    """``hostlink session run``, whatever name the program was started under."""
    return " ".join(["hostlink", *ctx.command_path.split(" ")[1:]]) if ctx is not None else "hostlink"


def _usage_error(err: click.UsageError):
    ctx = err.ctx
    if isinstance(err, OptionValueError) and err.param is not None:
        name = err.param.opts[0] if err.param.opts else err.param.human_readable_name
        example = f"e.g. {name} {err.example}" if err.example and err.param.opts else (
            f"e.g. {err.example}" if err.example else None)
        fail(f"{name}{err.sep}{err.message}", err.hint or example or f"see {_command_path(ctx)} --help")
    fail(err.format_message(), f"see {_command_path(ctx)} --help")


class _Group(click.Group):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as err:
            _usage_error(err)
        except click.ClickException as err:  # click.FileError and friends
            fail(err.format_message(), exit_code=err.exit_code)
        except (click.Abort, KeyboardInterrupt, EOFError):
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except HostlinkError as err:
            fail(err.message, err.hint, err.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except OSError as err:  # a path the user named that the OS refuses (read-only, full, a folder)
            what = f"{err.filename}: " if err.filename else ""
            fail(f"{what}{err.strerror or err}", "check the path and its permissions")
        except Exception as err:
            if os.environ.get("HOSTLINK_DEBUG"):
                raise
            fail(f"internal error in hostlink: {type(err).__name__}: {err}",
                 "this is a bug: please report it with the command; HOSTLINK_DEBUG=1 shows the traceback",
                 INTERNAL_ERROR_EXIT)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--port", "-p", envvar="HOSTLINK_PORT", metavar="URL", type=PortURL(),
              help="Board to talk to: /dev/ttyACM0, socket://HOST:PORT, usb://VID:PID, emu:BOARD. "
                   "Default: the first board plugged in, else the emulator of --board.")
@click.option("--board", "-b", envvar="HOSTLINK_BOARD", default=None, metavar="NAME", type=BoardOrPort(),
              help="Board kind (imx500, coralmicro, spresense, mlperftiny): picks the emulator when no port is "
                   "given and how to talk to the port. An address here (emu:imx500) is taken as --port.")
@click.option("--trace", is_flag=True, help="Print every frame sent and received.")
@click.option("--timeout-scale", type=Number(float, min=0, min_open=True, max=1000, example="2"), default=1.0,
              show_default=True, help="Multiply every derived timeout (slow hosts, debug probes).")
@click.version_option(package_name="hostlink")
@click.pass_context
def main(ctx, port, board, trace, timeout_scale):
    """hostlink: run INT8 vision models on edge boards (or their emulators), stage by stage."""
    ctx.ensure_object(dict)
    if board and (":" in board or "/" in board):  # --board emu:imx500 names an address: it is the port
        from ..boards.registry import board_of_url

        port, kind = port or board, board_of_url(board)
        board = kind.name if kind else None
    ctx.obj.update(port=port, board=board, trace=trace, timeout_scale=timeout_scale)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(main)
