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


def test_a_timeline_that_runs_backwards_is_refused(timeline_board):
    from hostlink.power.base import MonitorError

    timeline_board.run_frames(2, TINY)
    end = timeline_board.clock_us
    # a frame booked 2.5 ms before the previous one ended (what a real-time board whose host
    # inference sped up used to do): there is no single marker code for those instants
    span = type(timeline_board.timeline[0])
    timeline_board.timeline.append(span(end - 2500.0, end + 5000.0, 1, 266.8))
    timeline_board.clock_us = end + 5000.0
    sig = BoardSignal(timeline_board, 100_000, t0_us=0.0)
    with pytest.raises(MonitorError, match="runs backwards: a span starts at .* 2500.0 us before"):
        sig.render(0, sig.available())


def test_realtime_board_keeps_its_timeline_in_order_when_the_host_inference_varies(monkeypatch):
    """Host inference that takes 0-4 ms, varying frame to frame, on a real-time board: frames follow
    one another on the timeline, and the markers rendered from it agree with the board's own
    stage timestamps to within the sampling and tick rounding."""
    import time

    import hostlink
    from hostlink.emulator.inference import LiteRTEngine

    rng = np.random.default_rng(3)
    real_run = LiteRTEngine.run

    def slow_run(self, inputs):
        time.sleep(float(rng.uniform(0, 0.004)))
        return real_run(self, inputs)

    monkeypatch.setattr(LiteRTEngine, "run", slow_run)
    with hostlink.connect("emu:imx500?realtime=1") as dev:
        dev.upload(_model())
        board = dev.link.board
        mon = open_monitor("emulated://ppk2?seed=1", board=board)
        with mon:
            mon.start()
            results = dev.capture(count=12)
            time.sleep(0.003)
            trace = read_all(mon)
    spans = [s for s in board.timeline if s.end_us > s.start_us]
    assert all(b.start_us >= a.end_us - 1e-6 for a, b in zip(spans, spans[1:]))
    stages = align.integrate(trace, align.decode_markers(trace))
    frames = align.frames_from_segments(stages, 1, trace.start_index, trace.stop_index)
    assert len(frames) == 12
    dev_stages = [[(int(s), r.stages[n].start_us, r.stages[n].end_us)
                   for s, n in ((1, "capture"), (3, "inference"), (4, "transfer"))] for r in results]
    xc = align.cross_check(frames, dev_stages)
    assert xc.max_residual_samples <= align.quantisation_samples(100_000, 1_000_000) + 0.1
    assert xc.clock_ppm(100_000) == pytest.approx(0.0, abs=50)
