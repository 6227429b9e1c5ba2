import builtins

import numpy as np
import pytest

from hostlink.power import MonitorError, open_monitor
from hostlink.power.joulescope import samples_from_signals


def test_missing_package_is_a_clear_error(monkeypatch):
    real_import = builtins.__import__

    def no_joulescope(name, *args, **kwargs):
        if name == "joulescope" and (len(args) < 4 or args[3] == 0):
            raise ImportError("No module named 'joulescope'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_joulescope)
    mon = open_monitor("joulescope://")
    with pytest.raises(MonitorError, match="not installed") as err:
        mon.open()
    assert "hostlink[joulescope]" in err.value.hint


def test_signals_become_samples_with_two_marker_bits():
    sig = {"current": {"value": np.array([1e-3, np.nan, 2e-3], np.float32)},
           "voltage": {"value": np.array([3.3, 3.3, 3.29], np.float32)},
           "current_lsb": {"value": np.array([1, 0, 1], np.uint8)},
           "voltage_lsb": {"value": np.array([0, 1, 1], np.uint8)}}
    s = samples_from_signals(sig)
    assert s["digital"].tolist() == [1, 2, 3]
    assert s["flags"].tolist() == [0, 1, 0]
    assert s["voltage_v"][2] == np.float32(3.29)
