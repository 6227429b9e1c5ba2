"""`hostlink flash`: write firmware to a real board through its own bootloader."""
import click
from click.core import ParameterSource

from ..boards import registry
from ..errors import ConfigError
from .common import BoardName, IPv4, Number, Text

FLASHABLE = registry.flashable()


@click.command()
@click.option("--board", "-b", "board_opt", type=BoardName(FLASHABLE), default=None,
              help="Which board (also the global --board).")
@click.argument("firmware", type=click.Path(exists=True, dir_okay=False))
@click.option("--ram", is_flag=True, help="coralmicro: run the ELF from RAM; write nothing to flash.")
@click.option("--data", "data_files", multiple=True, metavar="FILE[=/PATH]",
              help="coralmicro: also write FILE to the board's filesystem (*.tflite goes to /models/). Repeatable.")
@click.option("--build-dir", type=click.Path(file_okay=False), envvar="CORALMICRO_BUILD", default=None,
              help="coralmicro: the coralmicro build directory holding the flashloader and elf_loader "
                   "[env CORALMICRO_BUILD].")
@click.option("--serial", envvar="CORAL_MICRO_SERIAL", default=None, type=Text(64, example="123456789abc"),
              help="coralmicro: the board's serial number when several are plugged in [env CORAL_MICRO_SERIAL].")
@click.option("--usb-ip", default="10.10.10.1", show_default=True, type=IPv4(),
              help="coralmicro: address written to /usb_ip_address ('' to skip).")
@click.option("--keep-files", is_flag=True, help="coralmicro: do not FORMAT the filesystem first.")
@click.option("--baud", type=Number(int, min=1200, max=4_000_000, example="921600"), default=None,
              help="spresense: XMODEM transfer rate (the updater switches to it for the upload).")
@click.option("--rm", "remove", multiple=True, metavar="NAME", type=Text(24, example="nuttx"),
              help="spresense: remove NAME from flash first.")
@click.option("--no-reset", is_flag=True, help="spresense: do not reset through DTR; press RESET yourself.")
@click.option("--savename", default="nuttx", show_default=True, type=Text(24, example="nuttx"),
              help="spresense: name in flash when an ELF is packaged (.spk savename).")
@click.pass_context
def flash(ctx, board_opt, firmware, ram, data_files, build_dir, serial, usb_ip, keep_files, baud, remove,
          no_reset, savename):
    """Write FIRMWARE to a real board.

    \b
    coralmicro: FIRMWARE.elf through ROM -> flashloader -> elf_loader (spsdk over HID),
                writing /default.elf, --data files and /usb_ip_address, then booting it.
    spresense:  FIRMWARE.spk or .elf (packaged as .spk) through the ROM updater and XMODEM-1K.
    """
    obj = ctx.find_root().obj or {}
    board = board_opt or obj.get("board")
    if board not in FLASHABLE:
        raise ConfigError(f"flash needs --board {' or '.join(FLASHABLE)}" + (f", not {board!r}" if board else ""),
                          "the IMX500 takes models, not firmware: use `hostlink upload`")
    flasher = registry.get(board).flasher()
    options = dict(ram=ram, data_files=data_files, build_dir=build_dir, serial=serial, usb_ip=usb_ip,
                   keep_files=keep_files, baud=baud, remove=remove, no_reset=no_reset, savename=savename)
    given = [n for n in options if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE]
    foreign = [n for n in given if n not in flasher.options]
    if foreign:
        names = ", ".join("--" + ("rm" if n == "remove" else "data" if n == "data_files" else n.replace("_", "-"))
                          for n in foreign)
        raise ConfigError(f"{names} is not an option of {board}'s flash", "see hostlink flash --help")
    step = lambda text: click.echo(f"  {text}", err=True)  # noqa: E731
    for line in flasher.flash(firmware, port=obj.get("port"), on_step=step,
                              **{n: v for n, v in options.items() if n in flasher.options}):
        click.echo(line)


def register(group: click.Group) -> None:
    group.add_command(flash)
