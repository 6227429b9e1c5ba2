import numpy as np
import pytest

from hostlink.errors import ConfigError
from hostlink.power import SampleFlag, Trace, open_monitor
from hostlink.power import align
from hostlink.power.emulated import INSTRUMENTS, BoardSignal, EmulatedMonitor

TINY = [(1, 17900.0, 266.8), (3, 860.0, 69.8), (4, 240.0, 266.8)]  # IMX500 TinyTracker-like


def read_all(mon):
    return Trace.concat(mon.read_available(), mon.info.sample_rate_hz)


def test_board_signal_conserves_energy(timeline_board):
    timeline_board.run_frames(5, TINY)
    sig = BoardSignal(timeline_board, 100_000, t0_us=0.0)
    n = sig.available()
    power, code = sig.render(0, n)
    truth = sum((s.end_us - s.start_us) * s.power_mw for s in timeline_board.timeline) / 1e9  # J
    covered = n * 10.0
    tail = (timeline_board.clock_us - covered) * timeline_board.profile.idle_mw / 1e9
    assert power.sum() * 1e-5 == pytest.approx(truth - tail, rel=1e-9)
    assert set(np.unique(code).tolist()) == {0, 1, 3, 4}


@pytest.mark.parametrize("kind", sorted(INSTRUMENTS))
def test_each_instrument_rate_inputs_and_energy(kind, timeline_board):
    mon = EmulatedMonitor(timeline_board, kind, seed=1)
    with mon:
        mon.start()
        timeline_board.run_frames(20, TINY)
        trace = read_all(mon)
    m = INSTRUMENTS[kind]
    assert mon.info.sample_rate_hz == m.sample_rate_hz
    assert len(trace.samples) == int(timeline_board.clock_us * m.sample_rate_hz / 1e6)
    assert trace.samples["digital"].max() < (1 << m.digital_channels)
    truth = sum((s.end_us - s.start_us) * s.power_mw for s in timeline_board.timeline) / 1e9
    assert trace.power_w().sum() * trace.dt == pytest.approx(truth, rel=2e-3)
    setpoint = (trace.samples["flags"] & SampleFlag.VOLTAGE_SETPOINT) != 0
    assert setpoint.all() == (not m.measures_voltage)


def test_quantisation_follows_the_ppk2_ranges(timeline_board):
    mon = EmulatedMonitor(timeline_board, "ppk2", noise=False)
    with mon:
        mon.start()
        timeline_board.run_frames(2, [(1, 5000.0, 266.8)])
        trace = read_all(mon)
    cur = trace.samples["current_a"]
    lsb3 = mon._lsb[3]  # 80 mA sits in range 3
    busy = cur[cur > 0.9 * mon._full[2]]
    assert len(busy) > 900
    assert np.allclose(busy / lsb3, np.round(busy / lsb3), atol=1e-3)


def test_dropouts_are_missing_rows_and_markers_hold(timeline_board):
    mon = EmulatedMonitor(timeline_board, "ppk2", seed=3, dropout=1.0, dropout_max=50, max_block_s=0.01)
    with mon:
        mon.start()
        timeline_board.run_frames(10, TINY)
        trace = read_all(mon)
    missing = (trace.samples["flags"] & SampleFlag.MISSING) != 0
    assert missing.sum() == mon.stats.missing > 0
    assert np.isnan(trace.samples["current_a"][missing]).all()
    assert len(trace.samples) == int(timeline_board.clock_us / 10)


def test_only_lived_time_can_be_read(timeline_board):
    mon = EmulatedMonitor(timeline_board, "js220")
    with mon:
        mon.start()
        assert mon.read(timeout=0) is None
        timeline_board.run_frames(1, TINY)
        assert mon.read(timeout=0) is not None


def test_supply_must_match_the_emulated_board(timeline_board):
    mon = EmulatedMonitor(timeline_board, "ppk2")
    with pytest.raises(ConfigError, match="runs from 3.3 V"):
        mon.configure(supply_v=5.0)
    mon.configure(supply_v=3.3)


def test_open_monitor_addresses(timeline_board):
    assert open_monitor("emulated://js110", board=timeline_board).info.sample_rate_hz == 2e6
    with pytest.raises(ConfigError, match="needs an emulated board"):
        open_monitor("emulated://ppk2")
    with pytest.raises(ConfigError, match="unknown option"):
        open_monitor("emulated://ppk2?bogus=1", board=timeline_board)
    with pytest.raises(ConfigError, match="unknown monitor scheme"):
        open_monitor("otii://x")
    with pytest.raises(ConfigError, match="no scheme"):
        open_monitor("/dev/ttyACM0")


def test_energy_per_stage_on_the_emulator_within_one_percent():
    """The acceptance test: the real emulated IMX500 running TinyTracker, the emulated PPK2, and the
    energy of each stage recovered from the trace against the emulator's own ground truth."""
    import hostlink

    with hostlink.connect("emu:imx500") as dev:
        dev.upload(_model())
        board = dev.link.board
        mon = open_monitor("emulated://ppk2?seed=5", board=board)
        with mon:
            mon.start()
            results = []
            # frames of one burst run back to back at the same phase of the sampling clock; the
            # host's pauses between bursts (the board idles) give each burst its own phase
            for _ in range(30):
                results += dev.capture(count=2)
                dev.model_info()
            dev.model_info()
            trace = read_all(mon)
    stages = align.integrate(trace, align.decode_markers(trace))
    frames = align.frames_from_segments(stages, 1, trace.start_index, trace.stop_index)
    assert len(frames) == len(results) == 60
    truth: dict = {}
    for span in board.timeline:
        if span.stage and span.start_us >= results[0].stages["capture"].start_us:
            truth.setdefault(int(span.stage), []).append(span.power_mw * (span.end_us - span.start_us) / 1e9)
    for sid, values in truth.items():
        got = [float(r["energy_j"]) for f in frames for r in f.stages if r["stage_id"] == sid]
        bound = np.mean([float(r["err_bound_j"]) for f in frames for r in f.stages if r["stage_id"] == sid])
        assert len(got) == 60
        assert np.mean(got) == pytest.approx(np.mean(values), rel=0.01), sid
        assert abs(np.mean(got) - np.mean(values)) <= bound
    idle = align.idle_baseline_w(stages)
    assert idle == pytest.approx(board.profile.idle_mw / 1000, rel=0.01)


def _model():
    from hostlink.session.plan import resolve_model

    return str(resolve_model("tinytracker_int8.tflite"))
