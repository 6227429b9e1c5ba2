import struct

import pytest

from hostlink.protocols import ppk2 as proto


def test_sample_word_masks_match_the_construct_declaration():
    raw = proto.SampleWord.build(dict(logic=0xA5, counter=37, range=3, adc=12345))
    (w,) = struct.unpack("<I", raw)
    assert (w & proto.ADC_MASK) >> proto.ADC_SHIFT == 12345
    assert (w & proto.RANGE_MASK) >> proto.RANGE_SHIFT == 3
    assert (w & proto.COUNTER_MASK) >> proto.COUNTER_SHIFT == 37
    assert (w & proto.LOGIC_MASK) >> proto.LOGIC_SHIFT == 0xA5
    back = proto.SampleWord.parse(raw)
    assert (back.adc, back.range, back.counter, back.logic) == (12345, 3, 37, 0xA5)


def test_command_bytes():
    assert proto.build_command(proto.Command.REGULATOR_SET, millivolts=3300) == bytes([0x0D, 0x0C, 0xE4])
    # the same two bytes as the "3 + (mV - 800 + 32) // 256, remainder" arithmetic of other drivers
    for mv in (800, 1800, 3000, 3300, 4095, 5000):
        d = mv - 800 + 32
        assert proto.build_command(proto.Command.REGULATOR_SET, millivolts=mv)[1:] == bytes([3 + d // 256, d % 256])
    assert proto.build_command(proto.Command.SET_POWER_MODE, mode="SOURCE") == bytes([0x11, 2])
    assert proto.build_command(proto.Command.SET_POWER_MODE, mode="AMPERE") == bytes([0x11, 1])
    assert proto.build_command(proto.Command.DEVICE_RUNNING_SET, on=1) == bytes([0x0C, 1])
    assert proto.build_command(proto.Command.SET_USER_GAINS, range=2, gain=1.0) == bytes.fromhex("25020000803f")
    assert proto.build_command(proto.Command.AVERAGE_START) == b"\x06"
    for cmd, size in proto.COMMAND_SIZES.items():
        assert cmd in proto.Command and size >= 1


def test_metadata_round_trip_and_errors():
    meta = {"Calibrated": 1, "R0": 1003.3506, "S4": 0.002940743, "I1": -0.000001443, "VDD": 3300, "mode": 2}
    raw = proto.format_metadata(meta)
    assert raw.endswith(b"END\n")
    back = proto.parse_metadata(raw)
    assert back["VDD"] == 3300 and isinstance(back["VDD"], int)
    assert back["R0"] == pytest.approx(1003.3506)
    assert back["S4"] == pytest.approx(0.002940743)
    assert back["I1"] == pytest.approx(-0.000001443)
    with pytest.raises(proto.MetadataError, match="no END"):
        proto.parse_metadata(b"R0: 1.0\nR1: 2.0\n")
    with pytest.raises(proto.MetadataError, match="not a number"):
        proto.parse_metadata(b"R0: abc\nEND\n")
    assert proto.parse_metadata(b"GS0: -nan\nEND\n")["GS0"] != proto.parse_metadata(b"GS0: -nan\nEND\n")["GS0"]
