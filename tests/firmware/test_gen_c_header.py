"""tools/gen_c_header.py: the C headers are generated from protocols/ and must not go stale."""
import importlib.util
import re
import sys
from pathlib import Path

import pytest

from hostlink import protocols as P
from hostlink.protocols import hostport as H
from hostlink.protocols import messages as M

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_c_header", ROOT / "tools" / "gen_c_header.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gen_c_header"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_committed_headers_are_current(gen, capsys):
    assert gen.main(["--check"]) == 0, capsys.readouterr().out


def test_check_fails_on_a_stale_header(gen, tmp_path, monkeypatch, capsys):
    stale = tmp_path / "hl_protocol.h"
    stale.write_text(gen.generate().replace("HL_ERR_BUSY = 6", "HL_ERR_BUSY = 7"))
    monkeypatch.setattr(gen, "OUTPUT", stale)
    assert gen.main(["--check"]) == 1
    out = capsys.readouterr()
    assert "HL_ERR_BUSY = 6" in out.out and "stale" in out.err


def _enum_values(text: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(HL_\w+) = (-?\d+),$", text, re.M)}


def test_every_protocol_constant_reaches_c(gen):
    text = gen.generate()
    values = _enum_values(text)
    for member in P.MsgType:
        assert values[f"HL_MSG_{member.name}"] == member
    for member in P.ErrorCode:
        assert values["HL_OK" if member == 0 else f"HL_ERR_{member.name}"] == member
    for cls, prefix in ((P.BoardKind, "HL_BOARD_"), (P.ModelFormat, "HL_FMT_"), (P.DType, "HL_DTYPE_"),
                        (P.Stage, "HL_STAGE_"), (P.InputSource, "HL_SOURCE_"), (P.ResetMode, "HL_RESET_"),
                        (P.LogLevel, "HL_LOG_")):
        for member in cls:
            assert values[prefix + member.name] == member
    for name, bit in M.Capabilities.flags.items():
        assert f"#define HL_CAP_{name} 0x{bit:02X}u" in text
    assert f"#define HL_HEADER_SIZE {P.HEADER_SIZE}u" in text
    assert f"#define HL_CRC32_CHECK 0x{P.crc32(b'123456789'):08X}u" in text
    # fixed layouts come from the declarations' own sizes
    assert f"#define HL_CAPTURE_SIZE {M.Capture.sizeof()}u" in text
    assert f"#define HL_STAGE_TIME_SIZE {M.StageTime.sizeof()}u" in text


def test_hostport_header_follows_its_declaration(gen):
    values = _enum_values(gen.generate_hostport())
    for op in H.PortOp:
        assert values[f"HL_PORT_OP_{op.name}"] == op
