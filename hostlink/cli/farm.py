"""`hostlink farm`: emulated boards exported to a labgrid coordinator, and the farm's places."""
import signal

import click

from ..errors import ConfigError
from ..farm.address import default_coordinator


@click.group()
def farm():
    """Board farms on labgrid: export emulated boards, list places (labgrid://PLACE addresses them)."""


@farm.command("export")
@click.option("--coordinator", "-x", default=None, metavar="HOST:PORT",
              help="labgrid coordinator (default: $LG_COORDINATOR, else 127.0.0.1:20408).")
@click.option("--name", "-n", required=True, metavar="NAME", help="Exporter name, e.g. the host's name.")
@click.option("--board", "-b", "boards", multiple=True, required=True, metavar="KIND[?OPTS]",
              help="A board to emulate and export, with emu: options if any (imx500, coralmicro?path=edgetpu, "
                   "spresense); repeat for more.")
@click.option("--create-places", is_flag=True, help="Create one place per board (named after its group, tagged board=KIND).")
@click.option("--realtime", is_flag=True, help="Pace each board at its modelled speed, as real boards run.")
@click.option("--camera", metavar="SRC", help="Sensor source of every board (default: pattern).")
def export(coordinator, name, boards, create_places, realtime, camera):
    """Serve emulated boards and their emulated PPK2s on TCP and export them with labgrid-exporter."""
    from ..farm.address import _PLACE
    from ..farm.export import FarmExport

    if not _PLACE.match(name):
        raise ConfigError(f"bad exporter name {name!r}", "use letters, digits, '-' and '_'")
    exp = FarmExport(name, list(boards), coordinator or default_coordinator(), realtime=realtime, camera=camera)
    signal.signal(signal.SIGTERM, lambda *a: exp.stop.set())
    try:
        exp.start(create_places=create_places)
        for e in exp.exported:
            click.echo(f"{e.group}: {e.board} board socket://{exp.host}:{e.board_port}, "
                       f"monitor ppk2://socket://{exp.host}:{e.monitor_port}")
        click.echo(f"exporter {name} ready on {exp.coordinator} (Ctrl-C stops)", err=True)
        code = exp.wait()
        if code:
            raise ConfigError(f"labgrid exporter {name} stopped: {exp.exporter_error()}",
                              "is the coordinator still running?")
    except KeyboardInterrupt:
        pass
    finally:
        exp.close()


@farm.command("places")
@click.option("--coordinator", "-x", default=None, metavar="HOST:PORT",
              help="labgrid coordinator (default: $LG_COORDINATOR, else 127.0.0.1:20408).")
def places(coordinator):
    """List the coordinator's places: board kind, holder, and whether their resources are online."""
    from ..farm.coordinator import Coordinator

    with Coordinator(coordinator or default_coordinator()) as coord:
        rows = coord.places()
    if not rows:
        click.echo("no places")
    for p in rows:
        online = "online" if p.resources and all(r.available for r in p.resources) else "offline"
        click.echo(f"{p.name:<24} board={p.tags.get('board', '?'):<11} {online:<8} "
                   f"{'held by ' + p.acquired if p.acquired else 'free'}")


def register(group: click.Group) -> None:
    group.add_command(farm)
