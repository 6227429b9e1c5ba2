"""Resynchronisation: after garbage or a corrupted frame, every good frame behind it arrives."""
import pytest

from hostlink import protocols as P
from hostlink.framing import Deframer, encode_frame
from hostlink.protocols import messages as M

GOOD = [encode_frame(P.MsgType.ACK, P.Flag.RESPONSE, s, M.Ack.build(dict(value=s * 1000))) for s in (11, 12, 13)]
VICTIM = encode_frame(P.MsgType.MODEL_CHUNK, 0, 10, M.ModelChunk.build(dict(offset=64, data=bytes(range(24)))))


def _seqs(frames):
    return [f.seq for f in frames]


def _feed(d: Deframer, data: bytes, step: int):
    out = []
    for i in range(0, len(data), step):
        out += d.feed(data[i:i + step])
    return out


@pytest.mark.parametrize("step", [1, 5, 4096])
def test_every_single_bit_flip_loses_only_the_damaged_frame(step):
    for pos in range(len(VICTIM)):
        for bit in range(8):
            bad = bytearray(VICTIM)
            bad[pos] ^= 1 << bit
            d = Deframer(256)
            got = _feed(d, bytes(bad) + b"".join(GOOD), step)
            assert _seqs(got) == [11, 12, 13], (pos, bit)
            s = d.stats
            assert s.header_errors + s.crc_errors + s.oversize >= 1 or pos < 2  # a broken magic is just noise


@pytest.mark.parametrize("step", [1, 3, 4096])
def test_cut_frame_does_not_swallow_the_next(step):
    for cut in range(1, len(VICTIM)):
        d = Deframer(256)
        got = _feed(d, VICTIM[:cut] + b"".join(GOOD), step)
        assert _seqs(got) == [11, 12, 13], cut


def test_garbage_between_frames_is_skipped_and_counted():
    noise = b"\x00HL\xffH" * 7 + b"H"
    d = Deframer()
    got = d.feed(noise + GOOD[0] + noise + GOOD[1] + b"H" + GOOD[2])
    assert _seqs(got) == [11, 12, 13]
    assert d.stats.skipped_bytes == 2 * len(noise) + 1
    assert d.pending == 0


def test_length_beyond_announced_maximum_is_corruption_not_a_wait():
    lying = bytearray(encode_frame(P.MsgType.RESULT, P.Flag.RESPONSE, 9, bytes(300)))
    d = Deframer(max_payload=256)
    got = d.feed(bytes(lying) + GOOD[0])
    assert _seqs(got) == [11]
    assert d.stats.oversize == 1


def test_header_crc_catches_a_corrupted_length_at_once():
    bad = bytearray(GOOD[0])
    bad[8] = 0xFF  # length byte: without the header CRC the receiver would wait for 255 bytes
    d = Deframer()
    assert _seqs(d.feed(bytes(bad) + GOOD[1])) == [12]
    assert d.stats.header_errors == 1


def test_a_good_frame_ending_in_H_leaves_nothing_behind():
    # a frame whose CRC's last byte is 'H' (0x48): found by searching seqs
    for seq in range(5000):
        wire = encode_frame(P.MsgType.ACK, P.Flag.RESPONSE, seq, b"")
        if wire[-1] == P.MAGIC[0]:
            break
    else:
        pytest.fail("no frame ending in 'H' among 5000 seqs")
    d = Deframer()
    assert _seqs(d.feed(wire)) == [seq]
    assert d.pending == 0 and d.stats.skipped_bytes == 0


def test_frames_arrive_in_any_split():
    stream = b"".join(GOOD) * 5
    for step in (1, 2, 13, 18, 19, 1000):
        assert _seqs(_feed(Deframer(), stream, step)) == [11, 12, 13] * 5
