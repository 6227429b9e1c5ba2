import numpy as np
import pytest

from hostlink.power import SAMPLE_DTYPE, SampleFlag, Trace
from hostlink.power import align


def trace_from(codes, power_w=None, rate=100_000.0, start=0):
    s = np.zeros(len(codes), SAMPLE_DTYPE)
    s["digital"] = codes
    s["voltage_v"] = 2.0
    s["current_a"] = (np.ones(len(codes)) if power_w is None else np.asarray(power_w)) / 2.0
    return Trace(rate, s, start)


def test_runs_become_segments_and_transients_are_debounced():
    codes = [0] * 10 + [1] * 30 + [3, 2] + [3] * 20 + [0] * 5  # 3 -> 2 glitch while pins settle
    seg = align.decode_markers(trace_from(codes, start=100), debounce=3)
    assert seg["stage_id"].tolist() == [0, 1, 3, 0]
    assert seg["start"].tolist() == [100, 110, 140, 162]
    assert seg["stop"].tolist() == [110, 140, 162, 167]
    raw = align.decode_markers(trace_from(codes), debounce=1)
    assert raw["stage_id"].tolist() == [0, 1, 3, 2, 3, 0]


def test_integration_energy_missing_and_confidence():
    codes = [0] * 100 + [1] * 50 + [2] * 10 + [0] * 40
    power = [0.1] * 100 + [1.0] * 50 + [0.5] * 10 + [0.1] * 40
    tr = trace_from(codes, power)
    tr.samples["flags"][110:115] = SampleFlag.MISSING
    tr.samples["current_a"][110:115] = np.nan
    st = align.integrate(tr, align.decode_markers(tr))
    dt = 1e-5
    assert st["energy_j"][1] == pytest.approx(50 * dt * 1.0)  # lost samples carry the mean power
    assert st["n_missing"].tolist() == [0, 5, 0, 0]
    assert st["energy_j"][2] == pytest.approx(10 * dt * 0.5)
    assert st["low_confidence"].tolist() == [False, False, True, False]
    # each edge may move by one sample of the step: |1.0 - 0.1| + |1.0 - 0.5|
    assert st["err_bound_j"][1] >= dt * (0.9 + 0.5) * 0.999
    assert align.idle_baseline_w(st) == pytest.approx(0.1)


def test_frames_cut_by_the_recording_are_left_out():
    codes = [1] * 30 + [3] * 5 + [0] * 20 + [1] * 30 + [3] * 5 + [4] * 5 + [1] * 30 + [3] * 5 + [0] * 20 + [1] * 7
    tr = trace_from(codes)
    st = align.integrate(tr, align.decode_markers(tr))
    frames = align.frames_from_segments(st, first_stage=1, trace_start=tr.start_index, trace_stop=tr.stop_index)
    assert [f.stage_ids() for f in frames] == [[1, 3, 4], [1, 3]]  # back to back, no idle between


def test_cross_check_recovers_rate_and_offset():
    rng = np.random.default_rng(0)
    frames, dev = [], []
    t = 1000.0
    for _ in range(10):
        rows = np.zeros(2, align.STAGE_DTYPE)
        rows["stage_id"] = [1, 3]
        bounds_us = [t, t + 500.0, t + 530.0]
        idx = [round(500 + (b - 1000.0) * 0.1 * (1 + 50e-6)) for b in bounds_us]
        rows["start"], rows["stop"] = idx[:2], idx[1:]
        frames.append(align.Frame(rows))
        dev.append([(1, bounds_us[0], bounds_us[1]), (3, bounds_us[1], bounds_us[2])])
        t += 100_000.0 + float(rng.uniform(0, 9))
    xc = align.cross_check(frames, dev)
    assert xc.clock_ppm(100_000) == pytest.approx(50, abs=20)
    assert xc.max_residual_samples <= 0.6


def test_bits_needed():
    assert [align.bits_needed(i) for i in (0, 1, 3, 4, 255)] == [1, 1, 2, 3, 8]


def test_the_minimax_line_keeps_a_perfect_board_at_the_quantisation_floor():
    """Edges quantised to the sample (±0.5) and ticks (±0.05): whatever the draw, the fitted line
    leaves no residual above the floor, where a least-squares line can tilt past it."""
    floor = align.quantisation_samples(100_000, 1_000_000)
    for seed in range(200):
        rng = np.random.default_rng(seed)
        true_us = np.sort(rng.uniform(0, 400_000, 40))
        board_us = np.round(true_us)
        samples = np.ceil(true_us * 0.1 - 0.5)  # first sample whose midpoint is past the edge
        slope, offset = align.minimax_line(board_us - board_us.mean(), samples)
        resid = np.abs(samples - (offset + slope * (board_us - board_us.mean())))
        assert resid.max() <= floor + 1e-9, seed
        assert slope == pytest.approx(0.1, rel=2e-5)
