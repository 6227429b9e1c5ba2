"""`hostlink convert --board imx500 MODEL`: the board vendor's own model toolchain, where it runs here."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError
from .common import echo_json, err_console, out_console
from .common import BoardName, Number, Text

#: Why there is no Edge TPU compilation step on this host.
EDGETPU_NOTE = (
    "edgetpu_compiler cannot be installed here: Google ships it only as a Debian package from its own "
    "Coral apt repository, which is not on PyPI or Debian and is not reachable from this machine. "
    "The bundled INT8 .tflite files run on the Coral Dev Board Micro's Cortex-M7 with tflite-micro as "
    "they are; for the Edge TPU, run `edgetpu_compiler MODEL_int8.tflite` on an x86-64 Linux host "
    "that has the Coral repository and upload the resulting *_edgetpu.tflite.")
SPRESENSE_NOTE = ("The Spresense runs the bundled INT8 .tflite with tflite-micro as it is: no conversion step. "
                  "Check it with `hostlink inspect MODEL --board spresense`.")


def register(group: click.Group) -> None:
    group.add_command(convert)


@click.command()
@click.argument("model", type=Text(4096, example="tinytracker"))
@click.option("--board", "target", type=BoardName(("imx500", "coralmicro", "spresense")), default=None,
              help="Board to convert for (default: the global --board).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: build/imx500/MODEL).")
@click.option("--samples", type=Number(int, min=8, max=5000, example="300"), default=None,
              help="Representative samples for MCT's statistics (default 300).")
@click.option("--env", "env_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              envvar="HOSTLINK_IMX500_VENV", help="IMX500 toolchain venv (default: .venv-imx500).")
@click.option("--timeout", "timeout_s", type=Number(float, min=1, max=7 * 86400, example="1800"), default=1800.0,
              show_default=True,
              help="Seconds each toolchain step may take.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def convert(ctx, model, target, out_dir, samples, env_dir, timeout_s, as_json):
    """Convert bundled MODEL (tinytracker, tinytrackers, qsegment) with the board's toolchain.

    imx500: MCT post-training quantization with the IMX500 target platform capabilities, then
    imxconv-tf; writes packerOut.zip and the converter's memory report and says whether the
    network fits the sensor's on-chip memory. Needs `make imx500-env` and `make models`.
    """
    target = (target or (ctx.find_root().obj or {}).get("board") or "").lower()
    if not target:
        raise ConfigError("convert needs a board", hint="hostlink convert --board imx500 MODEL")
    if target == "coralmicro":
        raise ConfigError(EDGETPU_NOTE, hint="the Coral Micro emulator takes the INT8 .tflite as it is")
    if target == "spresense":
        click.echo(SPRESENSE_NOTE)
        return
    from ..models import imx500_convert as ic

    env = ic.find_env(env_dir)
    name = ic.model_name(model)
    out = out_dir or Path("build") / "imx500" / name
    log = (lambda msg: None) if as_json else (lambda msg: err_console.print(f"[dim]{msg}[/]"))
    with err_console.status(f"converting {name} for the IMX500", spinner="dots") if not as_json else _null():
        from ..datasets.representative import representative_set

        rep = representative_set(name, samples or ic.DEFAULT_SAMPLES)
        res = ic.convert(model, out, rep, env=env, timeout_s=timeout_s, log=log)
    summary = res.summary()
    if as_json:
        echo_json(summary)
        return
    r = res.report
    out_console.print(f"[bold]{name}[/] -> {res.packer_out or 'no packerOut.zip'}")
    for key in ("Model Memory Physical Size", "Runtime Memory Physical Size", "Reserved Memory", "Memory Usage",
                "Total Memory Available On Chip", "Memory Utilization"):
        out_console.print(f"  {key:<32} {r.get(key, '?')}")
    out_console.print(f"  memory report: {res.memory_report_path}")
    if res.fits:
        out_console.print(f"[green]fits[/]: {r.get('Memory Usage')} of {r.get('Total Memory Available On Chip')} "
                          "on-chip memory (imxconv-tf: Fit In Chip = true)")
    else:
        out_console.print(f"[red]does not fit[/]: {r.get('Memory Usage')} needed, "
                          f"{r.get('Total Memory Available On Chip')} on chip (imxconv-tf: Fit In Chip = false)")
        ctx.exit(1)
    out_console.print("next, on the Raspberry Pi: imx500-package -i packerOut.zip -o DIR  (gives network.rpk)")


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
