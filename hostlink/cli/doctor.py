"""`hostlink doctor`: check this machine for real boards (packages, libusb, udev, groups, ports)."""
import click

from ..errors import HostlinkError
from .common import safe_text

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
            click.echo(f"[{MARK.get(c.status, c.status)}] {c.name}: {safe_text(c.detail)}")  # USB strings
            if c.hint and c.status != "ok":
                click.echo(f"       fix: {safe_text(c.hint)}")
        n_fail = sum(c.status == "fail" for c in checks)
        n_warn = sum(c.status == "warn" for c in checks)
        click.echo(f"{len(boards)} board(s) found; {n_fail} problem(s), {n_warn} warning(s)")
    failed = [c.name for c in checks if c.status == "fail"]
    if failed:
        err = HostlinkError(f"{len(failed)} check(s) failed: {', '.join(failed)}",
                            "fix them as shown above" if not as_json else "see the checks in the JSON")
        err.exit_code = 1  # a diagnosis that found problems, not a usage error
        raise err


def register(group: click.Group) -> None:
    group.add_command(doctor)
