"""setup.cfg lists packages explicitly (protocols/ is mapped to hostlink.protocols); a package
missing from the list would vanish from a non-editable install."""
import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_listed():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = {line.strip() for line in cfg["options"]["packages"].splitlines() if line.strip()}
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "hostlink").rglob("__init__.py")}
    found.add("hostlink.protocols")
    assert found - listed == set(), "add these to packages in setup.cfg"
