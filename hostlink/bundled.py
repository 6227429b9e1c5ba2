"""Models that ship inside the package (built by tools/models/build.py; see their .card.json)."""
import importlib.resources
from pathlib import Path

from .errors import ConfigError


def models_dir() -> Path:
    return Path(str(importlib.resources.files("hostlink"))) / "data" / "models"


def bundled_model(name: str) -> Path:
    path = models_dir() / name
    if not path.exists():
        have = ", ".join(sorted(p.name for p in models_dir().glob("*.tflite"))) or "none"
        raise ConfigError(f"bundled model {name} is missing (bundled: {have})", "run `make models` to rebuild them")
    return path


def find_model(name: str, base: Path | None = None) -> Path:
    """A model as the user names it anywhere: a path, a path relative to ``base`` (a plan's
    folder), or a bundled model by file name or stem (``tinytracker_int8.tflite``, ``qsegment_int8``)."""
    candidates = [Path(name)] + ([base / name] if base is not None else [])
    candidates += [models_dir() / name, models_dir() / f"{name}.tflite"]
    for c in candidates:
        if c.is_file():
            return c
    bundled = ", ".join(sorted(p.name for p in models_dir().glob("*.tflite"))) or "none"
    raise ConfigError(f"model {name!r} not found: the file does not exist and no bundled model has that name",
                      f"give a path, or a bundled model: {bundled}")
