"""The real PPK2 driver against the byte-exact fake: in-process (pyserial-compatible object) and
through a pseudo-terminal opened by path with real pyserial."""
import numpy as np
import pytest

from hostlink.power import MonitorError, SampleFlag, open_monitor
from hostlink.power.fake_ppk2 import ConstantSource, FakePpk2, FakePpk2Serial, Faults, serve_pty
from hostlink.power.ppk2 import Ppk2Monitor


def monitor(faults=None, partial=None, current=12e-3, noise=0.0):
    dev = FakePpk2(ConstantSource(current, noise), faults=faults)
    return Ppk2Monitor(FakePpk2Serial(dev, partial_seed=partial)), dev


def test_init_sequence_and_info():
    mon, dev = monitor()
    with mon:
        assert mon.info.kind == "ppk2" and mon.info.sample_rate_hz == 100_000 and mon.info.digital_channels == 8
        assert mon.metadata["HW"] == 10431 and mon.supply_v == pytest.approx(3.3)
        mon.configure(supply_v=1.8, mode="ampere")
    assert dev.commands[:4] == [("stop",), ("metadata",), ("mode", "source"), ("regulator", 3300)]
    assert ("mode", "ampere") in dev.commands and ("regulator", 1800) in dev.commands
    assert ("dut", True) in dev.commands  # ampere mode runs the DUT


def test_capture_measures_the_source_current():
    mon, dev = monitor(current=12e-3, noise=20e-6)
    with mon:
        mon.set_dut_power(True)
        trace = mon.capture(0.1)
    s = trace.samples
    assert len(s) == 10_000 and mon.stats.missing == 0
    assert np.mean(s["current_a"]) == pytest.approx(12e-3, rel=2e-3)
    assert np.all(s["flags"] & SampleFlag.VOLTAGE_SETPOINT)


def test_source_mode_with_the_dut_off_reads_zero():
    mon, _ = monitor(current=12e-3)
    with mon:
        trace = mon.capture(0.02)
    assert abs(float(np.mean(trace.samples["current_a"]))) < 1e-4


def test_partial_reads_split_words_and_decode_the_same():
    a, _ = monitor(noise=50e-6)
    b, _ = monitor(noise=50e-6, partial=7)
    with a, b:
        a.set_dut_power(True)
        b.set_dut_power(True)
        ta, tb = a.capture(0.05), b.capture(0.05)
    np.testing.assert_array_equal(ta.samples, tb.samples)
    assert b.stats.resyncs == 0


def test_lost_samples_become_missing_rows():
    mon, _ = monitor(faults=Faults(lose=[(1200, 30), (4000, 5)]), partial=3)
    with mon:
        mon.set_dut_power(True)
        trace = mon.capture(0.08)
    missing = np.flatnonzero(trace.samples["flags"] & SampleFlag.MISSING)
    assert missing.tolist() == list(range(1200, 1230)) + list(range(4000, 4005))
    assert mon.stats.missing == 35 and mon.stats.gaps == 2


def test_a_vanishing_device_keeps_what_it_sent_and_says_why():
    mon, _ = monitor(faults=Faults(vanish_after=3000))
    with mon:
        mon.start()
        got = 0
        with pytest.raises(MonitorError, match="vanished after 3000 samples") as err:
            for _ in range(200):
                block = mon.read(timeout=0.05)
                if block is not None:
                    got += len(block.samples)
        assert got == 3000
        assert "USB" in err.value.hint


def test_metadata_that_never_ends_is_an_error():
    dev = FakePpk2(metadata={"R0": 1000.0})
    dev.metadata = {"R0": 1000.0}
    dev_serial = FakePpk2Serial(dev)
    original = dev._execute

    def no_end(cmd, raw):  # a port that answers, but not like a PPK2
        if cmd.name == "GET_METADATA":
            dev._out += b"R0: 1000.0\n"
        else:
            original(cmd, raw)

    dev._execute = no_end
    mon = Ppk2Monitor(dev_serial)
    import hostlink.power.ppk2 as drv
    old = drv.METADATA_TIMEOUT_S
    drv.METADATA_TIMEOUT_S = 0.05
    try:
        with pytest.raises(MonitorError, match="did not send PPK2 metadata"):
            mon.open()
    finally:
        drv.METADATA_TIMEOUT_S = old


def test_supply_out_of_range_is_refused():
    mon, _ = monitor()
    with mon:
        with pytest.raises(MonitorError, match="800-5000 mV"):
            mon.configure(supply_v=5.5)


def test_end_to_end_through_a_pty_with_real_pyserial():
    server = serve_pty(FakePpk2(ConstantSource(8e-3, 10e-6), pace="realtime"))
    try:
        mon = open_monitor(f"ppk2://{server.path}")
        with mon:
            mon.set_dut_power(True)
            trace = mon.capture(0.1)
        assert len(trace.samples) == 10_000
        assert mon.stats.missing == 0 and mon.stats.resyncs == 0
        assert np.mean(trace.samples["current_a"]) == pytest.approx(8e-3, rel=5e-3)
    finally:
        server.close()


def test_pty_device_vanishing_is_reported():
    server = serve_pty(FakePpk2(ConstantSource(8e-3), faults=Faults(vanish_after=2000), pace="realtime"))
    try:
        mon = open_monitor(f"ppk2://{server.path}")
        with mon:
            mon.start()
            got = 0
            with pytest.raises(MonitorError, match="vanished"):
                for _ in range(100):
                    b = mon.read(timeout=0.05)
                    got += 0 if b is None else len(b.samples)
            assert got == 2000
    finally:
        server.close()
