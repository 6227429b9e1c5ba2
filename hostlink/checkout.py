"""Where a hostlink source checkout is, for the developer flows that need more than the package."""
from pathlib import Path

from .errors import ConfigError


def _is_checkout(path: Path) -> bool:
    return (path / "setup.cfg").is_file() and (path / "hostlink").is_dir() and (path / "tools").is_dir()


def source_checkout() -> Path | None:
    """The hostlink source checkout at hand, for the developer flows that need its tools/, build/
    and firmware/ trees: the tree this package runs from (an editable install), else the current
    folder or the nearest parent that is a checkout. None for an installed wheel used elsewhere:
    callers then say what to do instead of guessing a path inside site-packages."""
    here = Path(__file__).resolve().parents[1]
    if _is_checkout(here):
        return here
    cwd = Path.cwd().resolve()
    return next((p for p in (cwd, *cwd.parents) if _is_checkout(p)), None)


def checkout_path(*parts: str, what: str) -> Path:
    """``<checkout>/parts...``; ConfigError naming ``what`` needs a checkout when there is none."""
    root = source_checkout()
    if root is None:
        raise ConfigError(f"{what} needs a hostlink source checkout (tools/, build/, firmware/), "
                          "and this hostlink is an installed package",
                          "git clone the hostlink repository and run the command inside it")
    return root.joinpath(*parts)
