import numpy as np
import pytest

from hostlink.power.base import SampleFlag
from hostlink.power.fake_ppk2 import FAKE_METADATA, Ppk2Encoder
from hostlink.power.ppk2_decode import Ppk2Calibration, Ppk2Decoder
from hostlink.protocols import ppk2 as proto

from .conftest import reference_spike_filter

CAL = Ppk2Calibration.from_metadata(FAKE_METADATA)


def stream(n=60_000, seed=1, levels=(5e-5, 2e-3, 12e-3, 0.08, 0.3, 0.9), run=300):
    rng = np.random.default_rng(seed)
    lv = rng.choice(levels, size=n // run + 1)
    cur = np.repeat(lv, run)[:n] * (1 + 0.05 * rng.standard_normal(n))
    dig = np.repeat(rng.integers(0, 256, n // run + 1), run)[:n].astype(np.uint8)
    words = Ppk2Encoder(CAL, 3300).encode(cur, dig, 0)
    return words, words.astype("<u4").tobytes()


def reference(words, vdd_mv=3300, spike=True):
    table = CAL.table64(vdd_mv)
    x = table[words & 0x1FFFF]
    r = np.minimum((words >> 14) & 7, 4)
    return reference_spike_filter(x, r) if spike else x


def test_currents_and_logic_match_a_sample_by_sample_reference():
    words, raw = stream()
    assert set(np.unique((words >> 14) & 7).tolist()) == {0, 1, 2, 3, 4}  # every range, holds included
    out = Ppk2Decoder(CAL, 3300).feed(raw)
    ref = reference(words).astype(np.float32)
    np.testing.assert_array_equal(out["current_a"], ref)
    np.testing.assert_array_equal(out["digital"], (words >> 24).astype(np.uint8))
    assert np.all(out["voltage_v"] == np.float32(3.3))
    filtered = (out["flags"] & SampleFlag.RANGE_FILTERED) != 0
    switches = np.flatnonzero(np.diff(np.minimum((words >> 14) & 7, 4)) != 0) + 1
    assert filtered[switches].all() and filtered.sum() <= 3 * len(switches)


def test_spike_filter_off_is_the_plain_calibration():
    words, raw = stream(seed=2)
    out = Ppk2Decoder(CAL, 3300, spike_filter=False).feed(raw)
    np.testing.assert_array_equal(out["current_a"], reference(words, spike=False).astype(np.float32))


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_reads_of_any_size_decode_like_one_read(seed):
    words, raw = stream(seed=seed)
    whole = Ppk2Decoder(CAL, 3300).feed(raw)
    rng = np.random.default_rng(seed)
    dec = Ppk2Decoder(CAL, 3300)
    parts, pos = [], 0
    while pos < len(raw):
        k = int(rng.choice([1, 2, 3, 5, 7, 4093, 20000]))
        parts.append(dec.feed(raw[pos:pos + k]))
        pos += k
    got = np.concatenate(parts)
    np.testing.assert_array_equal(got, whole)
    assert dec.stats.resyncs == 0 and dec.stats.missing == 0


def test_lost_samples_are_filled_flagged_and_never_skipped():
    words, _ = stream(n=5000, seed=6, levels=(12e-3,))
    keep = np.ones(len(words), bool)
    keep[1000:1040] = False  # 40 lost
    keep[3000:3001] = False  # 1 lost
    dec = Ppk2Decoder(CAL, 3300)
    out = dec.feed(words[keep].astype("<u4").tobytes())
    assert len(out) == len(words)
    missing = (out["flags"] & SampleFlag.MISSING) != 0
    assert np.flatnonzero(missing).tolist() == list(range(1000, 1040)) + [3000]
    assert np.isnan(out["current_a"][missing]).all() and not np.isnan(out["current_a"][~missing]).any()
    assert np.all(out["digital"][1000:1040] == out["digital"][999])  # markers hold, no false edge
    assert (dec.stats.missing, dec.stats.gaps) == (41, 2)


def test_a_gap_across_two_reads_is_found():
    words, _ = stream(n=400, seed=7, levels=(12e-3,))
    dec = Ppk2Decoder(CAL, 3300)
    a = dec.feed(words[:200].astype("<u4").tobytes())
    b = dec.feed(words[210:].astype("<u4").tobytes())
    assert len(a) + len(b) == 400 and dec.stats.missing == 10
    assert ((b["flags"][:10] & SampleFlag.MISSING) != 0).all()


def test_a_corrupted_counter_is_suspect_not_a_gap():
    words, _ = stream(n=2000, seed=8, levels=(12e-3,))
    bad = words.copy()
    bad[700] ^= np.uint32(0x15 << proto.COUNTER_SHIFT)
    dec = Ppk2Decoder(CAL, 3300)
    out = dec.feed(bad.astype("<u4").tobytes())
    assert len(out) == 2000 and dec.stats.missing == 0 and dec.stats.suspect == 1
    assert out["flags"][700] & SampleFlag.SUSPECT


def test_a_lost_byte_is_resynchronised():
    words, raw = stream(n=8000, seed=9, levels=(12e-3, 0.08))
    broken = raw[:4 * 3000 + 1] + raw[4 * 3000 + 2:]  # one byte of word 3000 lost
    dec = Ppk2Decoder(CAL, 3300)
    out = dec.feed(broken)
    assert dec.stats.resyncs == 1
    ref = reference(words).astype(np.float32)
    # everything before the damage and everything after the resync point decodes exactly
    np.testing.assert_array_equal(out["current_a"][:3000], ref[:3000])
    tail = 4000
    np.testing.assert_array_equal(out["current_a"][-tail:], ref[-tail:])


def test_calibration_from_metadata_and_saturation():
    meta = {"R0": 0.0, "R1": 100.0, "GS2": float("nan"), "O3": 50.0}
    cal = Ppk2Calibration.from_metadata(meta)
    assert cal.R[0] == proto.CALIBRATION_DEFAULTS["R"][0]  # 0 on some units: keep the default
    assert cal.R[1] == 100.0 and cal.GS[2] == 1.0 and cal.O[3] == 50.0
    full = np.array([(4 << 14) | 0x3FFF, (2 << 14) | 100], np.uint32) | (np.arange(2, dtype=np.uint32) << 18)
    out = Ppk2Decoder(cal, 3300).feed(full.astype("<u4").tobytes())
    assert out["flags"][0] & SampleFlag.SATURATED and not out["flags"][1] & SampleFlag.SATURATED


def test_vdd_enters_the_calibration_through_s():
    cal = Ppk2Calibration.from_metadata({"S2": 1e-3})
    w = np.array([(2 << 14) | 1000], np.uint32).astype("<u4").tobytes()
    a = Ppk2Decoder(cal, 1800).feed(w)["current_a"][0]
    b = Ppk2Decoder(cal, 3600).feed(w)["current_a"][0]
    assert b - a == pytest.approx(1e-3 * 1.8, rel=1e-5)


def test_identical_currents_to_the_ppk2_api_package():
    api_mod = pytest.importorskip("ppk2_api.ppk2_api")
    words, raw = stream(n=20_000, seed=10)
    api = api_mod.PPK2_API.__new__(api_mod.PPK2_API)
    api.ser = None
    # the package's constructor opens a port; give it its state without one
    vars(api).update(vars(_ppk2_api_state(api_mod)))
    api.current_vdd = 3300
    api._parse_metadata(proto.format_metadata(FAKE_METADATA).decode())
    ref, bits = api.get_samples(raw)
    out = Ppk2Decoder(Ppk2Calibration.from_metadata(FAKE_METADATA), 3300).feed(raw)
    np.testing.assert_array_equal(out["current_a"], (np.asarray(ref) / 1e6).astype(np.float32))
    np.testing.assert_array_equal(out["digital"], np.asarray(bits, np.uint8))


def _ppk2_api_state(api_mod):
    import serial

    class _NoPort:
        baudrate = 0

        def close(self):
            pass

    real = serial.Serial
    serial.Serial = lambda *a, **k: _NoPort()
    try:
        return api_mod.PPK2_API("unused")
    finally:
        serial.Serial = real
