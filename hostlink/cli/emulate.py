"""`hostlink emulate`: serve an emulated board on a pty or TCP so any host tool can talk to it."""
import signal
import threading

import click

from ..emulator.board import EmulatedBoard
from ..boards import registry
from ..emulator.server import DEFAULT_IDLE_TIMEOUT_S, parse_hostport, serve_pty, serve_tcp
from ..errors import ConfigError
from .common import BoardName, Choice, HostPort, Text


@click.command()
@click.option("--board", "-b", "board_name", type=BoardName([b.name for b in registry.boards()
                                                            if b.emulator_profile or b.serve_emulator]),
              default=None, help="Board kind to emulate (default: the global --board, else imx500).")
@click.option("--pty", "use_pty", is_flag=True, help="Serve on a new pseudo-terminal and print its /dev/pts/N path.")
@click.option("--tcp", metavar="HOST:PORT", type=HostPort(), help="Serve on TCP (loopback unless you give another address; port 0 = any).")
@click.option("--realtime", is_flag=True, help="Pace replies at the board's modelled speed.")
@click.option("--camera", metavar="SRC", type=Text(4096, example="pattern"), help="Sensor source: pattern (default), webcam index, video file, image file, dir or glob.")
@click.option("--engine", type=Choice(["litert", "tflm"]), default="litert", show_default=True,
              help="Interpreter for inference (tflm: the tflite-micro interpreter, as on the MCU boards).")
@click.option("--firmware", type=Choice(["python", "host"]), default="python", show_default=True,
              help="python: the Python emulator; host: the C board core (firmware/ports/host) on a pty.")
@click.option("--idle-timeout", type=click.FloatRange(min=0, max=1e6), default=DEFAULT_IDLE_TIMEOUT_S, show_default=True,
              metavar="SECONDS", help="--tcp: drop a host that sent nothing for this long (0: never); others get BUSY meanwhile.")
@click.pass_context
def emulate(ctx, board_name, use_pty, tcp, realtime, camera, engine, firmware, idle_timeout):
    """Run an emulated board that speaks protocol v1 over a pty or TCP until Ctrl-C."""
    if bool(use_pty) == bool(tcp):
        raise ConfigError("choose exactly one of --pty or --tcp HOST:PORT")

    board_name = board_name or (ctx.find_root().obj or {}).get("board") or "imx500"
    kind = registry.get(board_name)
    if kind.serve_emulator is None and kind.emulator_profile is None:
        raise ConfigError(f"{board_name} has no emulator", f"emulated boards: {', '.join(registry.emulated())}")
    if kind.serve_emulator is not None:  # a board with its own protocol brings its own emulator
        if tcp or firmware == "host" or camera or engine != "litert":
            raise ConfigError(f"the emulated {board_name} serves on --pty only, without --camera, --engine "
                              "or --firmware host", f"hostlink emulate --board {board_name} --pty")

        def factory(emit):
            return kind.serve_emulator(emit, realtime=realtime)
    else:
        def factory(emit):
            return EmulatedBoard(board_name, emit, camera=camera, realtime=realtime, engine=engine)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())

    def ready(address):
        click.echo(address)
        click.echo(f"emulated {board_name} ready on {address}; try: hostlink --board {board_name} --port {address} info"
                   "   (Ctrl-C stops)",
                   err=True)

    try:
        if firmware == "host":
            from ..emulator.firmware import serve_host_port

            if tcp or realtime:
                raise ConfigError("--firmware host serves on --pty only, without --realtime")
            serve_host_port(board_name, stop, camera=camera, engine=engine, on_ready=ready)
        elif use_pty:
            serve_pty(factory, stop, on_ready=ready)
        else:
            host, port = parse_hostport(tcp)
            serve_tcp(factory, host, port, stop, on_ready=ready, idle_timeout=idle_timeout,
                      on_event=lambda text: click.echo(text, err=True))
    except KeyboardInterrupt:
        stop.set()


def register(group: click.Group) -> None:
    group.add_command(emulate)
