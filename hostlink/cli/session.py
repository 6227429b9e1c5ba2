"""`hostlink session run|resume` and `hostlink report`: unattended latency + energy sessions."""
import json
import sys
from pathlib import Path

import click
from rich.table import Table

from ..errors import ConfigError
from .common import (MAX_FRAMES, MAX_PERIOD_US, MAX_WINDOWS, MonitorURL, Number, PortURL, Text, connect_to,
                     echo_json, err_console, out_console, safe_text, shown)


def _connector(ctx: click.Context):
    def connect(port: str):
        return connect_to(ctx, port)

    return connect


def _json_summary(summary: dict) -> dict:
    """The --json shape: per board `stages` (median_ms, energy_mj, ...), `total_ms`, `total_energy_mj`."""
    return {"session": summary["session"], "status": summary["status"], "reason": summary.get("reason"),
            "boards": summary["boards"]}


def _print_summary(summary: dict) -> None:
    for label, b in summary["boards"].items():
        t = Table(title=f"{shown(label)}: {shown(b.get('device'))} - {shown(b.get('model'))} - "
                        f"{shown(b.get('monitor'))} "
                        f"({b['frames']} frames)", title_justify="left")
        for col in ("stage", "median ms", "IQR ms", "median mW", "energy mJ", "IQR mJ", "± mJ"):
            t.add_column(col, justify="left" if col == "stage" else "right")
        for name, s in b["stages"].items():
            t.add_row(shown(name) + (" *" if s["low_confidence"] else ""), f"{s['median_ms']:.3f}", f"{s['iqr_ms']:.3f}",
                      f"{s['median_mw']:.1f}", f"{s['energy_mj']:.4f}", f"{s['iqr_energy_mj']:.4f}",
                      f"{s['err_bound_mj']:.4f}")
        t.add_row("total", f"{b['total_ms']:.3f}", "", "", f"{b['total_energy_mj']:.4f}", "", "", style="bold")
        out_console.print(t)
        if any(s["low_confidence"] for s in b["stages"].values()):
            out_console.print("  * fewer than 20 monitor samples per stage: low confidence")
    out_console.print(f"session folder: {shown(summary['session'])}", highlight=False)


@click.group("session")
def session():
    """Measure latency and energy per stage on one or more boards, unattended."""


@session.command("run")
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, exists=True))
@click.option("--board", "boards", multiple=True, metavar="PORT", type=PortURL(),
              help="A board to measure (repeatable): emu:imx500, /dev/ttyACM0, ... Default: the plan's, "
                   "else the global --port/--board.")
@click.option("--monitor", "monitors", multiple=True, metavar="ADDR", type=MonitorURL(),
              help="Power monitor, once for all boards or once per --board: emulated://ppk2, "
                   "emulated://js220, ppk2://auto, ppk2:///dev/ttyACM1, joulescope://, fake-ppk2://.")
@click.option("--model", type=Text(4096, example="tinytracker_int8.tflite"),
              help="Model file, or the name of a bundled model (tinytracker_int8.tflite).")
@click.option("--warmup", type=Number(int, min=0, max=MAX_FRAMES, example="5"),
              help="Frames run before measuring (default 5).")
@click.option("--frames", type=Number(int, min=1, max=MAX_FRAMES, example="20"), help="Frames per window (default 20).")
@click.option("--min-window-s", type=Number(float, min=0, max=86400, example="1"),
              help="Grow each window to at least this many seconds.")
@click.option("--windows", type=Number(int, min=1, max=MAX_WINDOWS, example="5"), help="Windows per board (default 5).")
@click.option("--period-us", type=Number(int, min=0, max=MAX_PERIOD_US, example="0"),
              help="Frame period; 0 runs frames back to back.")
@click.option("--name", type=Text(64, pattern=r"[A-Za-z0-9_.-]+", what="1 to 64 letters, digits, _ . -",
                                  example="tinytracker"), help="Session name (folder suffix).")
@click.option("--out", default="sessions", show_default=True, type=click.Path(file_okay=False),
              help="Where session folders go.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_context
def run(ctx, plan_file, boards, monitors, model, warmup, frames, min_window_s, windows, period_us, name,
        out, as_json, no_progress):
    """Run PLAN_FILE (YAML), or the same plan given as options; options override the file."""
    from ..session import Plan, load_plan, run_session

    plan_dir = None
    if plan_file:
        plan = load_plan(plan_file)
        plan_dir = Path(plan_file).resolve().parent
        data = plan.as_dict()
    else:
        data = {"boards": [], "model": model or "tinytracker_int8.tflite"}
    if boards:
        data["boards"] = [{"port": p} for p in boards]
    if not data["boards"]:
        from ..api import resolve_port

        obj = ctx.find_root().obj or {}
        data["boards"] = [{"port": resolve_port(obj.get("port"), obj.get("board"))}]
    if monitors:
        if len(monitors) not in (1, len(data["boards"])):
            raise ConfigError(f"{len(monitors)} --monitor for {len(data['boards'])} boards",
                              "give one --monitor for all boards, or one per --board")
        for i, b in enumerate(data["boards"]):
            b["monitor"] = monitors[0] if len(monitors) == 1 else monitors[i]
    for key, value in (("model", model), ("warmup_frames", warmup), ("frames_per_window", frames),
                       ("min_window_s", min_window_s), ("windows", windows), ("period_us", period_us),
                       ("name", name)):
        if value is not None:
            data[key] = value
    plan = Plan.from_dict(data, where=plan_file or "options")
    store, summary = run_session(plan, out, plan_dir=plan_dir, progress=not no_progress and sys.stderr.isatty(),
                                 console=err_console, connect=_connector(ctx))
    if as_json:
        echo_json(_json_summary(summary))
    else:
        _print_summary(summary)


@session.command("resume")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--spare", "spares", multiple=True, metavar="URL", type=PortURL(),
              help="A board to finish on when a board of the session is gone (e.g. labgrid://PLACE); "
                   "used for a board of the same kind. Repeat for more.")
@click.pass_context
def resume(ctx, folder, as_json, no_progress, spares):
    """Continue an interrupted or failed session: run only the windows it is missing."""
    from ..session import resume_session

    store, summary = resume_session(folder, progress=not no_progress and sys.stderr.isatty(),
                                    console=err_console, connect=_connector(ctx), spares=list(spares))
    if as_json:
        echo_json(_json_summary(summary))
    else:
        _print_summary(summary)


@click.command("report")
@click.argument("folders", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--png", "png", default="comparison.png", show_default=True, type=click.Path(dir_okay=False),
              help="Where to write the comparison plot.")
@click.option("--md", "md", type=click.Path(dir_okay=False), help="Also write the markdown table here.")
@click.option("--json", "as_json", is_flag=True, help="Print the compared summaries as JSON.")
def report(folders, png, md, as_json):
    """Compare boards across session folders: a markdown table (ratios vs the first) and a PNG."""
    from ..session.plots import plot_energy
    from ..session.summary import comparison_markdown

    rows = []
    for folder in folders:
        path = Path(folder) / "summary.json"
        if not path.is_file():
            raise ConfigError(f"{folder} has no summary.json", "give folders written by `hostlink session run`")
        summary = json.loads(path.read_text())
        for label, b in summary["boards"].items():
            name = label if len(folders) == 1 else f"{summary.get('name', Path(folder).name)}/{label}"
            rows.append((name, b))
    if not rows:
        raise ConfigError("no completed windows in these sessions", "run or resume them first")
    text = comparison_markdown(rows)
    if md:
        Path(md).write_text(text)
    plot_energy(rows, Path(png))
    if as_json:
        echo_json({name: b for name, b in rows})
    else:
        click.echo("\n".join(safe_text(line) for line in text.split("\n")), nl=False)
        click.echo(f"plot: {png}", err=True)


def register(group: click.Group) -> None:
    group.add_command(session)
    group.add_command(report)
