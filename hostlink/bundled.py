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
