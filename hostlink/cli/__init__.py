"""The `hostlink` command: a thin click shell over the API, one module per command group.

Every HostlinkError becomes a readable message and a stable exit code, never a traceback.
"""
import importlib
import sys

import click

from ..errors import HostlinkError

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
]


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except HostlinkError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--port", "-p", envvar="HOSTLINK_PORT", metavar="URL",
              help="Board to talk to: /dev/ttyACM0, socket://HOST:PORT, usb://VID:PID, emu:BOARD. "
                   "Default: the first board plugged in, else the emulator of --board.")
@click.option("--board", "-b", envvar="HOSTLINK_BOARD", default=None, metavar="NAME",
              help="Board kind (imx500, coralmicro, spresense); picks the emulator when no port is given.")
@click.option("--trace", is_flag=True, help="Print every frame sent and received.")
@click.option("--timeout-scale", type=float, default=1.0, show_default=True,
              help="Multiply every derived timeout (slow hosts, debug probes).")
@click.version_option(package_name="hostlink")
@click.pass_context
def main(ctx, port, board, trace, timeout_scale):
    """hostlink: run INT8 vision models on edge boards (or their emulators), stage by stage."""
    ctx.ensure_object(dict)
    ctx.obj.update(port=port, board=board, trace=trace, timeout_scale=timeout_scale)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(main)
