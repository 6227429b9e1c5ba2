"""Board conformance, part 3: model chunks of any size at any offset.

A host on a noisy link shrinks its chunks and resends a lost range cut differently, so a board
must accept every size up to its maximum at every offset, overlapping and repeated ranges, and
count in each ACK the distinct bytes staged so far.
"""
import random
import zlib

from hostlink import protocols as P
from hostlink.protocols import messages as M

from board_session import describe, parse


def _chunk(raw, off, data):
    return raw.request(P.MsgType.MODEL_CHUNK, M.ModelChunk.build(dict(offset=off, data=data)))[0]


def test_variable_chunks_overlapping_and_resent_differently(raw, model_b):
    info = raw.hello()
    limit = info.max_payload - 4
    f, _ = raw.request(P.MsgType.MODEL_BEGIN, dict(size=len(model_b), crc32=zlib.crc32(model_b), format="TFLITE",
                                                   name="var"))
    assert f.type == P.MsgType.ACK, describe(f)
    rng = random.Random(3)
    have = bytearray(len(model_b))
    off = n_pieces = 0
    # forward in sizes that shrink and grow (1 byte .. the board's maximum), each piece sent
    # whole and, every third piece, again as two overlapping parts cut differently
    while off < len(model_b):
        size = min(len(model_b) - off, rng.choice([1, 7, 64, 255, 320, 1000, limit]))
        pieces = [(off, size)]
        n_pieces += 1
        if size > 2 and n_pieces % 3 == 0:
            pieces += [(off, size // 2 + 1), (off + size // 3, size - size // 3)]
        for o, n in pieces:
            f = _chunk(raw, o, model_b[o:o + n])
            assert f.type == P.MsgType.ACK, describe(f)
            have[o:o + n] = b"\x01" * n
            assert parse(f).value == have.count(1), (o, n)
        off += size
    f, _ = raw.request(P.MsgType.MODEL_COMMIT, dict(crc32=zlib.crc32(model_b)))
    assert f.type == P.MsgType.MODEL_INFO, describe(f)
    assert parse(f).crc32 == zlib.crc32(model_b)
