"""The farm the tests run against: hostlink.farm.local (a real labgrid coordinator and
``hostlink farm export`` exporters on loopback; only the boards are software)."""
from __future__ import annotations

import shutil

import pytest

from hostlink.farm.local import BIN, LocalFarm, free_port

__all__ = ["BIN", "LocalFarm", "free_port", "need_labgrid"]


def need_labgrid():
    pytest.importorskip("labgrid", reason="labgrid is not installed: pip install 'hostlink[labgrid]'")
    if shutil.which("labgrid-coordinator", path=str(BIN)) is None:
        pytest.skip("labgrid-coordinator is not on PATH")
