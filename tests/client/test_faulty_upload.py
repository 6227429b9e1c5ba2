"""Uploads over a cable that flips bits, drops, duplicates and delays bytes.

Whatever the damage, an upload either completes with the image's CRC active on the board, or
fails with a HostlinkError and the board keeps the model it had. No other model is ever active.
"""
import zlib

import pytest

from hostlink.client import Device
from hostlink.config import Timeouts
from hostlink.emulator.link import EmulatorLink
from hostlink.errors import HostlinkError
from hostlink.testing.faulty_link import Faults, FaultyLink
from hostlink.testing.synth_models import tiny_int8_model

# The in-process board answers at once, so short deadlines only make retries quick.
QUICK = Timeouts(base_s=0.01, margin=0.5, hello_s=0.05, attempts=6)

OLD = tiny_int8_model(seed=1)
NEW = tiny_int8_model((1, 16, 16, 3), channels=16, seed=2)  # ~13 KB: 13 chunks on spresense


def _attempt(profile: str, faults: Faults, seed: int, direction: str = "both"):
    emu = EmulatorLink(profile)
    clean = Device(emu, timeouts=QUICK)
    clean.hello()
    clean.upload(OLD, name="old")
    link = FaultyLink(emu, faults, seed=seed, direction=direction)
    dev = Device(link, timeouts=QUICK)
    try:
        dev.hello()
        m = dev.upload(NEW, name="new")
    except HostlinkError as err:
        outcome = type(err).__name__
    else:
        assert m.crc32 == zlib.crc32(NEW) and m.size == len(NEW)
        outcome = "ok"
    active = emu.board.active
    assert active is not None
    assert (active.crc32, active.size, active.name) in {(zlib.crc32(OLD), len(OLD), "old"),
                                                        (zlib.crc32(NEW), len(NEW), "new")}
    if outcome == "ok":
        assert active.name == "new"
        # and the model that is active is the one that runs
        (r,) = _capture_clean(emu)
        assert r.outputs[0].shape == (1, 4)
    return outcome, link


def _capture_clean(emu):
    dev = Device(emu, timeouts=QUICK)
    dev.hello()
    return dev.capture()


MODERATE = [
    pytest.param("spresense", Faults(flip_rate=2e-4, drop_rate=2e-4, dup_rate=1e-4), "both", id="flip-drop-dup"),
    pytest.param("coralmicro", Faults(flip_rate=1e-4, delay_rate=0.05, delay_s=0.003), "both", id="flip-delay"),
    pytest.param("spresense", Faults(drop_rate=5e-4), "tx", id="drop-host-to-board"),
    pytest.param("spresense", Faults(flip_rate=3e-3, dup_rate=1e-3), "rx", id="damage-board-to-host"),
]


@pytest.mark.parametrize("profile, faults, direction", MODERATE)
def test_upload_survives_or_fails_cleanly(profile, faults, direction):
    outcomes = []
    damaged = 0
    for seed in range(8):
        outcome, link = _attempt(profile, faults, seed, direction)
        outcomes.append(outcome)
        s, r = link.tx_stats, link.rx_stats
        damaged += s.flipped + s.dropped + s.duplicated + r.flipped + r.dropped + r.duplicated + s.delayed + r.delayed
    assert damaged > 0, "the link never damaged anything: the test proves nothing"
    assert set(outcomes) <= {"ok", "LinkTimeout", "DeviceError", "ProtocolError"}
    assert outcomes.count("ok") >= 4, outcomes  # retries carry most uploads through this much damage


def test_cable_going_dead_mid_upload_fails_cleanly_and_keeps_the_old_model():
    # a byte in three lost: no frame gets through at any chunk size, so progress stops
    for seed in range(3):
        emu = EmulatorLink("spresense")
        clean = Device(emu, timeouts=QUICK)
        clean.hello()
        clean.upload(OLD, name="old")
        link = FaultyLink(emu, seed=seed)
        dev = Device(link, timeouts=QUICK)
        dev.hello()
        with pytest.raises(HostlinkError):
            dev.upload(NEW, name="new", progress=lambda done, total: done > 4000 and link.set_faults(Faults(drop_rate=0.3)))
        assert link.tx_stats.dropped > 0
        assert emu.board.active.name == "old" and emu.board.active.crc32 == zlib.crc32(OLD)


def test_pty_upload_through_faults(serve_pty):
    from hostlink.links.serial import SerialLink

    served = serve_pty("spresense")
    link = FaultyLink(SerialLink(served.url), Faults(flip_rate=3e-4, drop_rate=3e-4), seed=11)
    dev = Device(link, timeouts=Timeouts(base_s=0.1, hello_s=0.5, attempts=8))
    try:
        dev.hello()
        try:
            dev.upload(NEW, name="new")
        except HostlinkError:
            # nothing, or (when the host gave up while the board was still committing) the right image
            assert served.board.active is None or served.board.active.crc32 == zlib.crc32(NEW)
        else:
            assert served.board.active.crc32 == zlib.crc32(NEW)
    finally:
        dev.close()
    assert link.tx_stats.flipped + link.tx_stats.dropped > 0
