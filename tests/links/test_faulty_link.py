"""The fault-injecting link wrapper itself: seeded, per direction, and as damaging as asked."""
import pytest

from hostlink.errors import ConfigError
from hostlink.testing.faulty_link import Faults, FaultyLink
from hostlink.links.pipe import pipe_pair


def _through(faults, data: bytes, seed=1, direction="both", pieces=1):
    host, board = pipe_pair()
    link = FaultyLink(host, faults, seed=seed, direction=direction)
    step = -(-len(data) // pieces)
    for i in range(0, len(data), step):
        link.write(data[i:i + step])
    out = bytearray()
    while True:
        chunk = board.read(0.01)
        if not chunk:
            break
        out += chunk
    return bytes(out), link


DATA = bytes(range(256)) * 400  # 102,400 bytes


def test_clean_link_passes_everything():
    out, link = _through(Faults(), DATA, pieces=7)
    assert out == DATA
    assert link.tx_stats.bytes == len(DATA) and link.tx_stats.flipped == 0


def test_same_seed_same_damage_other_seed_other_damage():
    f = Faults(flip_rate=1e-3, drop_rate=1e-3, dup_rate=1e-3)
    a, _ = _through(f, DATA, seed=5)
    b, _ = _through(f, DATA, seed=5)
    c, _ = _through(f, DATA, seed=6)
    assert a == b and a != c and a != DATA


@pytest.mark.parametrize("kind", ["flip_rate", "drop_rate", "dup_rate"])
def test_rates_are_per_byte(kind):
    out, link = _through(Faults(**{kind: 0.01}), DATA)
    s = link.tx_stats
    count = {"flip_rate": s.flipped, "drop_rate": s.dropped, "dup_rate": s.duplicated}[kind]
    assert 700 < count < 1350  # 1024 expected; binomial sd 32
    assert len(out) == len(DATA) - s.dropped + s.duplicated
    if kind == "flip_rate":
        changed = sum(x != y for x, y in zip(out, DATA))
        assert changed == s.flipped
        assert all(bin(x ^ y).count("1") == 1 for x, y in zip(out, DATA) if x != y)


def test_direction_limits_the_damage():
    host, board = pipe_pair()
    link = FaultyLink(host, Faults(flip_rate=0.05), seed=3, direction="rx")
    link.write(DATA[:5000])
    assert board.read(0.1) == DATA[:5000]  # host -> board is clean
    board.write(DATA[:5000])
    got = link.read(0.1)
    assert got != DATA[:5000] and len(got) == 5000
    assert link.tx_stats.flipped == 0 and link.rx_stats.flipped > 0


def test_separate_faults_per_direction():
    host, board = pipe_pair()
    link = FaultyLink(host, Faults(drop_rate=1.0), seed=3, direction="tx", rx_faults=Faults(dup_rate=1.0))
    link.write(b"abc")
    assert board.read(0.05) == b""
    board.write(b"abc")
    assert link.read(0.1) == b"aabbcc"


def test_delay_holds_the_stream_back_in_order():
    host, board = pipe_pair()
    link = FaultyLink(host, Faults(delay_rate=1.0, delay_s=0.05), seed=0, direction="rx")
    board.write(b"first")
    assert link.read(0.0) == b""  # held
    assert link.read(1.0) == b"first"  # released once the delay passed
    assert link.rx_stats.delayed == 1


def test_delayed_writes_go_out_in_order_when_due():
    host, board = pipe_pair()
    link = FaultyLink(host, Faults(delay_rate=1.0, delay_s=0.02), seed=0, direction="tx")
    link.write(b"one")
    link.write(b"two")
    assert board.read(0.0) == b""
    link.read(0.2)  # the host's read loop is what lets held bytes go
    assert board.read(0.1) == b"onetwo"


@pytest.mark.parametrize("bad", [dict(flip_rate=-0.1), dict(drop_rate=1.5), dict(delay_s=-1)])
def test_bad_rates_are_refused(bad):
    with pytest.raises(ConfigError):
        Faults(**bad)


def test_bad_direction_is_refused():
    host, _ = pipe_pair()
    with pytest.raises(ConfigError, match="direction"):
        FaultyLink(host, Faults(), direction="sideways")
