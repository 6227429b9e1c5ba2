"""MLPerf Tiny (EEMBC) benchmark firmware: the ASCII command protocol over a UART.

Facts from mlcommons/tiny @1afd2c9820f795965a6134facd0b4dfae41ef23f: benchmark/api/
internally_implemented.{h,cpp} (the parser, ``ee_*``), submitter_implemented.h (``th_*``, the
timestamp message) and the reference submissions' th_load_tensor/th_results, and
benchmark/runner/device_under_test.py and script.py (what the host sends and how it reads replies).

Host -> DUT: a command is ASCII words separated by spaces and ended by ``%`` (no newline); the
firmware keeps at most 80 characters of it (``EE_CMD_SIZE``).

    name%                 m-name-dut-[VENDOR]
    profile%              m-profile-[ULPMark for tinyML Firmware V0.0.1]  m-model-[ic01]
    timestamp%            performance mode: m-lap-us-N; energy mode: a low pulse on the timestamp GPIO
    db load N%            m-[Expecting N bytes]
    db HEXHEX...%         (bytes into the input buffer) m-load-done once N have arrived
    infer N W%            m-warmup-start-W m-warmup-done m-infer-start-N <timestamp> ... <timestamp>
                          m-infer-done m-results-[f,f,...]
    results%              m-results-[f,f,...]

DUT -> host: lines ended by ``\\r\\n``; every command is answered, whatever happened, by a final
``m-ready``; errors are ``e-[...]`` lines. At reset the firmware prints its timestamp mode
(``m-timestamp-mode-performance`` or ``-energy``), ``m-init-done`` and ``m-ready``.

The byte layout of the input buffer depends on the benchmark (the reference th_load_tensor):
ic01 and vww01 take each int8 input value plus 128 as one byte; kws01 takes the int8 values as they
are; ad01 takes float32 values (little-endian) and quantizes on the board. Declared with construct
below, so the host and the emulator read and write the same bytes.
"""
from __future__ import annotations

import re

from construct import Array, Float32l, GreedyBytes, Int8sl, Int8ul, NullTerminated

TERMINATOR = b"%"
MAX_COMMAND = 80  # EE_CMD_SIZE: longer commands are cut there by the firmware
READY = "m-ready"
INIT_DONE = "m-init-done"
FW_VERSION = "ULPMark for tinyML Firmware V0.0.1"  # EE_FW_VERSION
DEVICE_NAME = "dut"  # EE_DEVICE_NAME
MAX_DB_INPUT_SIZE = 96 * 96 * 3  # the API's default input buffer
#: Hex bytes per ``db`` command the reference runner sends (26 with a power manager, else 31), so a
#: command stays under EE_CMD_SIZE.
DB_BYTES_PER_COMMAND = 26
#: th_timestamp in energy mode holds the GPIO low for 100000 nop iterations: at least 100000 cycles.
TIMESTAMP_PULSE_CYCLES = 100_000

#: One command on the wire: ASCII text ended by '%'.
Command = NullTerminated(GreedyBytes, term=TERMINATOR)
#: One line from the DUT: text ended by '\n' (a '\r' before it is dropped when read).
Line = NullTerminated(GreedyBytes, term=b"\n")

#: Model versions (EE_MODEL_VERSION_*) and the input buffer layout each reference firmware reads.
MODEL_VERSIONS = ("ic01", "vww01", "kws01", "ad01", "strww01")
INPUT_LAYOUT = {
    "ic01": lambda n: Array(n, Int8ul),  # int8 value + 128
    "vww01": lambda n: Array(n, Int8ul),  # int8 value + 128
    "kws01": lambda n: Array(n, Int8sl),  # int8 as is
    "ad01": lambda n: Array(n, Float32l),  # float32, quantized on the board
}
INPUT_OFFSET = {"ic01": 128, "vww01": 128, "kws01": 0}

TIMESTAMP_MODES = ("performance", "energy")

_NAME = re.compile(r"^m-name-(?P<device>[^-]+)-\[(?P<vendor>[^]]*)\]$")
_PROFILE = re.compile(r"^m-(?P<key>model|profile)-\[(?P<value>[^]]+)\]$")
_LAP = re.compile(r"^m-lap-us-(?P<us>[0-9]+)$")
_RESULTS = re.compile(r"^m-results-\[(?P<values>[^]]*)\]$")
_EXPECTING = re.compile(r"^m-\[Expecting (?P<n>[0-9]+) bytes\]$")
_MODE = re.compile(r"^m-timestamp-mode-(?P<mode>performance|energy)$")
_ERROR = re.compile(r"^e-\[(?P<text>.*)\]$")


def command(*words) -> bytes:
    """``command("infer", 1, 0)`` -> ``b"infer 1 0%"``; refuses what the firmware would cut or misparse."""
    text = " ".join(str(w) for w in words)
    if not text or len(text) > MAX_COMMAND or "%" in text or not text.isascii() or "\n" in text or "\r" in text:
        raise ValueError(f"not an MLPerf Tiny command: {text[:40]!r}")
    return Command.build(text.encode("ascii"))


def parse_command(raw: bytes) -> list[str]:
    """The words of one command (without its '%'), as the firmware's strtok splits them."""
    text = bytes(raw[:MAX_COMMAND]).decode("ascii", errors="replace")
    return text.split()


def db_commands(data: bytes, per_command: int = DB_BYTES_PER_COMMAND) -> list[bytes]:
    """``db load N`` then ``db HEX`` commands that fill the DUT's input buffer with ``data``."""
    out = [command("db", "load", len(data))]
    out += [command("db", data[i:i + per_command].hex()) for i in range(0, len(data), per_command)]
    return out


def encode_input(model_version: str, values) -> bytes:
    """Input tensor values (int8, or float32 for ad01) -> the buffer bytes the firmware reads."""
    layout = INPUT_LAYOUT[model_version]
    vals = [int(v) + INPUT_OFFSET.get(model_version, 0) for v in values] if model_version != "ad01" else \
        [float(v) for v in values]
    return layout(len(vals)).build(vals)


def decode_input(model_version: str, data: bytes) -> list:
    """The buffer bytes -> the tensor values the firmware hands the model (ad01: floats)."""
    layout = INPUT_LAYOUT[model_version]
    size = 4 if model_version == "ad01" else 1
    vals = layout(len(data) // size).parse(data)
    if model_version == "ad01":
        return list(vals)
    off = INPUT_OFFSET.get(model_version, 0)
    return [((v - off + 128) % 256) - 128 for v in vals]  # the firmware's int8 wrap-around


def parse_name(line: str):
    m = _NAME.match(line)
    return (m["device"], m["vendor"]) if m else None


def parse_profile(line: str):
    m = _PROFILE.match(line)
    return (m["key"], m["value"]) if m else None


def parse_lap_us(line: str) -> int | None:
    m = _LAP.match(line)
    return int(m["us"]) if m else None


def parse_results(line: str) -> list[float] | None:
    m = _RESULTS.match(line)
    if not m:
        return None
    return [float(x) for x in m["values"].split(",") if x.strip()]


def parse_expecting(line: str) -> int | None:
    m = _EXPECTING.match(line)
    return int(m["n"]) if m else None


def parse_mode(line: str) -> str | None:
    m = _MODE.match(line)
    return m["mode"] if m else None


def parse_error(line: str) -> str | None:
    m = _ERROR.match(line)
    return m["text"] if m else None


def format_results(values) -> str:
    """``m-results-[...]`` as the reference th_results prints it (%0.3f, comma-separated)."""
    return "m-results-[" + ",".join(f"{float(v):0.3f}" for v in values) + "]"


def line(text: str) -> bytes:
    """A DUT line as the firmware prints it (``th_printf("...\\r\\n")``)."""
    return Line.build(text.encode("ascii") + b"\r")
