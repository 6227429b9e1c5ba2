"""Layers depend one way: protocols <- links <- device client <- boards/emulator/power/farm <-
sessions, demos <- CLI. hostlink.models and hostlink.datasets are leaf libraries: they import only
the bottom layer, models never imports datasets, and datasets is for sessions/demos and the CLI.

Every ``import`` in every module of hostlink/ (function-level ones too) is read with ast; a module
may import its own layer or one below. The two late bindings that cross upwards on purpose
(``hostlink.api`` and ``hostlink.ports`` find the board registry and the farm through
importlib, documented there) are not imports and are not seen here.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hostlink"

LAYERS = [
    ("protocols", {"protocols", "errors", "config", "limits", "timeline", "types", "fastcodec", "checkout", "procs"}),
    ("links", {"links", "framing"}),
    ("device client", {"client", "api", "ports", "upload", "inputs", "device_handle", "bundled", "stats", ""}),
    ("boards/emulator/power/farm", {"boards", "emulator", "power", "farm", "testing"}),
    ("sessions/demos", {"session", "demos"}),
    ("CLI", {"cli", "__main__"}),
]
#: leaf library -> (the lowest layer that may use it, what it may import besides the bottom layer)
LEAVES = {"models": (2, {"models"}), "datasets": (4, {"datasets"})}
RANK = {part: i for i, (_, parts) in enumerate(LAYERS) for part in parts}


def _part(module: str) -> str:
    """hostlink.boards.registry -> "boards"; hostlink -> "" (the package's own __init__)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        yield ".".join(parts), is_pkg, path
    for path in sorted((ROOT / "protocols").glob("*.py")):  # installed as hostlink.protocols
        name = "hostlink.protocols" + ("" if path.stem == "__init__" else f".{path.stem}")
        yield name, path.stem == "__init__", path


def _imports(module: str, is_pkg: bool, path: Path):
    package = module if is_pkg else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                head = ".".join(base + ([node.module] if node.module else []))
            else:
                head = node.module or ""
            # `from .. import protocols` imports hostlink.protocols, not the package itself
            targets = [f"{head}.{a.name}" if not node.module else head for a in node.names]
        else:
            continue
        for t in targets:
            if t == "hostlink" or t.startswith("hostlink."):
                yield node.lineno, t


def _allowed(src: str, dst: str) -> bool:
    if src == dst:
        return True
    if src in LEAVES:
        return dst in LEAVES[src][1] or RANK.get(dst) == 0
    if dst in LEAVES:
        return RANK[src] >= LEAVES[dst][0]
    return RANK[dst] <= RANK[src]


def test_every_module_has_a_layer():
    unplaced = sorted({_part(m) for m, _, _ in _modules()} - set(RANK) - set(LEAVES))
    assert not unplaced, f"place these in a layer in tests/test_layering.py: {unplaced}"


def test_no_module_imports_a_higher_layer():
    bad = []
    for module, is_pkg, path in _modules():
        src = _part(module)
        for line, target in _imports(module, is_pkg, path):
            dst = _part(target)
            if dst and dst not in RANK and dst not in LEAVES:
                dst = ""  # `from hostlink import connect`: the package's own facade
            if not _allowed(src, dst):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not bad, "imports from a lower layer into a higher one:\n" + "\n".join(bad)


@pytest.mark.parametrize("src,dst,ok", [("client", "boards", False), ("boards", "client", True),
                                        ("models", "datasets", False), ("demos", "datasets", True),
                                        ("models", "errors", True), ("emulator", "session", False)])
def test_the_rule_itself(src, dst, ok):
    assert _allowed(src, dst) is ok
