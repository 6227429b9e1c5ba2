"""Nordic Power Profiler Kit II (PPK2) serial protocol: commands, metadata text and the sample word.

The PPK2 is a USB CDC-ACM device (VID 0x1915, PID 0xC00A). The host writes one opcode byte plus
arguments; only GetMetadata is answered (ASCII ``Key: value`` lines ending in ``END``). After
AverageStart the device streams one 32-bit little-endian word per sample at 100 kS/s:

    bits  0-13  adc      14-bit ADC reading
    bits 14-16  range    measurement range 0..4 (5..7 never occur; decoders clamp to 4)
    bit  17     unused
    bits 18-23  counter  6-bit sample counter, wraps at 64
    bits 24-31  logic    digital inputs D0..D7

``SampleWord`` declares that layout with construct. The hot path (``hostlink.power.ppk2_decode``)
decodes millions of words with numpy masks derived from the constants below; the tests check the
masks against this declaration.
"""
import enum

from construct import (
    BitsInteger,
    BitStruct,
    ByteSwapped,
    Const,
    Enum,
    Float32l,
    Int8ul,
    Int16ub,
    Padding,
    Struct,
)

USB_VID = 0x1915
USB_PID = 0xC00A
SAMPLE_RATE_HZ = 100_000
WORD_SIZE = 4
VDD_MIN_MV = 800
VDD_MAX_MV = 5000
N_RANGES = 5
#: The ADC reading is scaled by 4 before calibration (14-bit value in a 16-bit frame).
ADC_SCALE = 4
#: Volts per scaled ADC count across the shunt.
ADC_MULT = 1.8 / 163840


class Command(enum.IntEnum):
    AVERAGE_START = 0x06
    AVERAGE_STOP = 0x07
    DEVICE_RUNNING_SET = 0x0C
    REGULATOR_SET = 0x0D
    SET_POWER_MODE = 0x11
    SPIKE_FILTERING_ON = 0x15
    SPIKE_FILTERING_OFF = 0x16
    GET_METADATA = 0x19
    RESET = 0x20
    SET_USER_GAINS = 0x25


class PowerMode(enum.IntEnum):
    AMPERE = 1  # the PPK2 measures a DUT powered by its own supply
    SOURCE = 2  # the PPK2 supplies the DUT (source meter)


# --- commands ------------------------------------------------------------------------------------

SimpleCommand = Struct("opcode" / Enum(Int8ul, Command))

RegulatorSet = Struct(
    "opcode" / Const(Command.REGULATOR_SET.value, Int8ul),
    "millivolts" / Int16ub,  # 800..5000, high byte first
)

SetPowerMode = Struct(
    "opcode" / Const(Command.SET_POWER_MODE.value, Int8ul),
    "mode" / Enum(Int8ul, PowerMode),
)

DeviceRunningSet = Struct(
    "opcode" / Const(Command.DEVICE_RUNNING_SET.value, Int8ul),
    "on" / Int8ul,  # 1: DUT power on, 0: off
)

SetUserGains = Struct(
    "opcode" / Const(Command.SET_USER_GAINS.value, Int8ul),
    "range" / Int8ul,
    "gain" / Float32l,
)

#: Length of each command on the wire, opcode included; the fake device uses it to frame writes.
COMMAND_SIZES = {
    Command.AVERAGE_START: 1,
    Command.AVERAGE_STOP: 1,
    Command.DEVICE_RUNNING_SET: DeviceRunningSet.sizeof(),
    Command.REGULATOR_SET: RegulatorSet.sizeof(),
    Command.SET_POWER_MODE: SetPowerMode.sizeof(),
    Command.SPIKE_FILTERING_ON: 1,
    Command.SPIKE_FILTERING_OFF: 1,
    Command.GET_METADATA: 1,
    Command.RESET: 1,
    Command.SET_USER_GAINS: SetUserGains.sizeof(),
}


def build_command(command: Command, **fields) -> bytes:
    """The bytes of one command, e.g. ``build_command(Command.REGULATOR_SET, millivolts=3300)``."""
    command = Command(command)
    if command is Command.REGULATOR_SET:
        return RegulatorSet.build(fields)
    if command is Command.SET_POWER_MODE:
        return SetPowerMode.build(fields)
    if command is Command.DEVICE_RUNNING_SET:
        return DeviceRunningSet.build(fields)
    if command is Command.SET_USER_GAINS:
        return SetUserGains.build(fields)
    return SimpleCommand.build({"opcode": command})


# --- the sample word -------------------------------------------------------------------------------

SampleWord = ByteSwapped(BitStruct(
    "logic" / BitsInteger(8),
    "counter" / BitsInteger(6),
    Padding(1),
    "range" / BitsInteger(3),
    "adc" / BitsInteger(14),
))

ADC_SHIFT, ADC_BITS = 0, 14
RANGE_SHIFT, RANGE_BITS = 14, 3
COUNTER_SHIFT, COUNTER_BITS = 18, 6
LOGIC_SHIFT, LOGIC_BITS = 24, 8
ADC_MASK = ((1 << ADC_BITS) - 1) << ADC_SHIFT
RANGE_MASK = ((1 << RANGE_BITS) - 1) << RANGE_SHIFT
COUNTER_MASK = ((1 << COUNTER_BITS) - 1) << COUNTER_SHIFT
LOGIC_MASK = ((1 << LOGIC_BITS) - 1) << LOGIC_SHIFT
COUNTER_MODULO = 1 << COUNTER_BITS

# --- metadata --------------------------------------------------------------------------------------

METADATA_END = b"END"
#: Calibration tables in the metadata, one value per range: ``R0..R4``, ``GS0..GS4``, ...
CALIBRATION_KEYS = ("R", "GS", "GI", "O", "S", "I", "UG")
#: Values when the metadata lacks a key (and for R when a unit reports 0, seen on some units).
CALIBRATION_DEFAULTS = {
    "R": (1031.64, 101.65, 10.15, 0.94, 0.043),
    "GS": (1.0,) * N_RANGES,
    "GI": (1.0,) * N_RANGES,
    "O": (0.0,) * N_RANGES,
    "S": (0.0,) * N_RANGES,
    "I": (0.0,) * N_RANGES,
    "UG": (1.0,) * N_RANGES,
}


class MetadataError(ValueError):
    """The metadata text is cut short or has a line that is not ``Key: value``."""


def parse_metadata(raw: bytes) -> dict:
    """``Key: value`` lines up to ``END`` -> {key: float | int}. Lowercase keys are kept as sent.

    Raises MetadataError if ``END`` is missing or a line does not parse. ``-nan`` (sent by
    uncalibrated units) becomes ``float('nan')``.
    """
    text = raw.decode("ascii", errors="replace")
    end = text.find("END")
    if end < 0:
        raise MetadataError(f"no END in {len(raw)} bytes of metadata")
    out: dict = {}
    for line in text[:end].splitlines():
        line = line.strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise MetadataError(f"metadata line without ':': {line!r}")
        key, value = key.strip(), value.strip()
        try:
            number = float(value.replace("-nan", "nan"))
        except ValueError as err:
            raise MetadataError(f"metadata value for {key} is not a number: {value!r}") from err
        out[key] = int(number) if number.is_integer() and "." not in value else number
    return out


def format_metadata(values: dict) -> bytes:
    """The device's reply text for ``values`` (what a PPK2 sends after GetMetadata)."""
    lines = []
    for key, value in values.items():
        if isinstance(value, float):
            text = f"{value:.9f}" if abs(value) < 0.01 and value != 0 else f"{value:.4f}"
        else:
            text = str(value)
        lines.append(f"{key}: {text}")
    return ("\n".join(lines) + "\nEND\n").encode("ascii")
