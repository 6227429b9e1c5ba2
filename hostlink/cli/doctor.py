"""`hostlink doctor`: check this machine for real boards (packages, libusb, udev, groups, ports)."""
import click

MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "info": "info"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def doctor(as_json):
    """Diagnose permissions, missing libusb/hidapi, busy ports and boards in the wrong mode."""
    from ..boards.doctor import run_checks

    checks, boards = run_checks()
    if as_json:
        from .common import echo_json

        echo_json(dict(checks=[c.__dict__ for c in checks],
                       boards=[dict(b.__dict__, vid=f"{b.vid:04x}", pid=f"{b.pid:04x}") for b in boards]))
    else:
        for c in checks:
            click.echo(f"[{MARK.get(c.status, c.status)}] {c.name}: {c.detail}")
            if c.hint and c.status != "ok":
                click.echo(f"       fix: {c.hint}")
        n_fail = sum(c.status == "fail" for c in checks)
        n_warn = sum(c.status == "warn" for c in checks)
        click.echo(f"{len(boards)} board(s) found; {n_fail} problem(s), {n_warn} warning(s)")
    if any(c.status == "fail" for c in checks):
        raise SystemExit(1)


def register(group: click.Group) -> None:
    group.add_command(doctor)
