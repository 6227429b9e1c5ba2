#!/usr/bin/env python3
"""Generate firmware/core/include/hl_protocol.h from the construct declarations in protocols/.

    python tools/gen_c_header.py           rewrite the header
    python tools/gen_c_header.py --check   exit 1 (and print a diff) when the header is stale

Everything is derived by walking the declarations, so a new enum member, message type, flag or
payload field shows up in C without touching this file:
  * every IntEnum / IntFlag in protocols/ becomes a C enum (ErrorCode becomes hl_status_t);
  * every FlagsEnum (capabilities, formats, capture options) becomes bit macros;
  * every payload Struct becomes offset/size macros for its fixed-size prefix and prefix-width
    macros for its length-prefixed fields (the C encoders static-assert on those);
  * the CRC check values are computed with the Python CRC functions, so the C tables are tested
    against the same definition.

protocols/ is loaded straight from its folder, not through ``import hostlink``: the generator must
work in CI before the package is installed and must not depend on the rest of hostlink importing.
"""
from __future__ import annotations

import argparse
import difflib
import enum
import importlib.util
import re
import sys
from pathlib import Path

import construct as C

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "firmware" / "core" / "include" / "hl_protocol.h"
HOSTPORT_OUTPUT = ROOT / "firmware" / "ports" / "host" / "hl_hostport.h"

#: Short C prefixes for the enums everyone types; any other enum gets HL_<UPPER_SNAKE_NAME>_.
ENUM_PREFIX = {
    "Flag": "HL_FLAG_",
    "MsgType": "HL_MSG_",
    "BoardKind": "HL_BOARD_",
    "ModelFormat": "HL_FMT_",
    "DType": "HL_DTYPE_",
    "Stage": "HL_STAGE_",
    "InputSource": "HL_SOURCE_",
    "ResetMode": "HL_RESET_",
    "LogLevel": "HL_LOG_",
    "PortOp": "HL_PORT_OP_",
}
FLAGS_PREFIX = {"Capabilities": "HL_CAP_", "Formats": "HL_FORMATS_"}


def load_protocols(root: Path = ROOT):
    """Import protocols/ as the package ``hostlink_protocols_gen`` without importing hostlink."""
    name = "hostlink_protocols_gen"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, root / "protocols" / "__init__.py",
                                                  submodule_search_locations=[str(root / "protocols")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def c_ident(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


# ---------------------------------------------------------------------------------------- enums
def enum_block(cls: type[enum.Enum], prefix: str, typedef: str) -> list[str]:
    doc = (cls.__doc__ or "").strip().splitlines()
    lines = [f"/* {cls.__module__.split('.')[-1]}.{cls.__name__}"
             + (f": {doc[0]}" if doc and not doc[0].startswith(("An enumeration", "Support for")) else "")
             + " */", "typedef enum {"]
    for member in cls:
        lines.append(f"    {prefix}{member.name} = {int(member.value)},")
    lines.append(f"}} {typedef};")
    return lines


def status_block(error_code: type[enum.IntEnum], retryable) -> list[str]:
    lines = ["/* status.ErrorCode: every core function returns one; ERROR and NAK carry it on the wire. */",
             "typedef enum {"]
    for member in error_code:
        name = "HL_OK" if int(member) == 0 else f"HL_ERR_{member.name}"
        lines.append(f"    {name} = {int(member)},")
    lines.append("} hl_status_t;")
    cond = " || ".join(f"(c) == HL_ERR_{m.name}" for m in sorted(retryable, key=int)) or "0"
    lines.append("/* status.RETRYABLE: repeating the same request may succeed. */")
    lines.append(f"#define HL_STATUS_RETRYABLE(c) ({cond})")
    return lines


def flags_block(name: str, fe: C.FlagsEnum, prefix: str) -> list[str]:
    lines = [f"/* FlagsEnum {name} ({fe.subcon.sizeof()} byte(s) on the wire) */"]
    for flag, value in sorted(fe.flags.items(), key=lambda kv: kv[1]):
        lines.append(f"#define {prefix}{c_ident(flag)} 0x{value:02X}u")
    return lines


# ------------------------------------------------------------------------------------- payloads
def _fixed_size(sc) -> int | None:
    try:
        return sc.sizeof()
    except (C.SizeofError, KeyError, AttributeError):
        return None


def _prefix_kind(sc) -> tuple[str, int] | None:
    """For a length-prefixed field: (what follows the prefix, prefix width in bytes)."""
    if isinstance(sc, C.Renamed):
        sc = sc.subcon
    if isinstance(sc, C.StringEncoded) and isinstance(sc.subcon, C.Prefixed):
        return "length, then UTF-8 text", sc.subcon.lengthfield.sizeof()
    if isinstance(sc, C.Prefixed):
        return "length, then bytes", sc.lengthfield.sizeof()
    if isinstance(sc, C.FocusedSeq) and [s.name for s in sc.subcons] == ["count", "items"]:
        count = sc.subcons[0].subcon
        while hasattr(count, "subcon") and not isinstance(count, C.FormatField):
            count = count.subcon
        item = sc.subcons[1].subcon.subcon
        return f"count, then items of {_describe(item)}", count.sizeof()
    return None


def _describe(sc) -> str:
    if isinstance(sc, C.Enum):
        return f"u{8 * sc.subcon.sizeof()} enum"
    if isinstance(sc, C.Struct):
        for name, value in _struct_names.items():
            if value is sc:
                return name
        return "struct"
    if isinstance(sc, C.Prefixed):
        return f"u{8 * sc.lengthfield.sizeof()}-length-prefixed bytes"
    size = _fixed_size(sc)
    return f"{size}-byte value" if size is not None else type(sc).__name__


_struct_names: dict[str, C.Struct] = {}


def struct_block(name: str, st: C.Struct, module: str = "messages") -> list[str]:
    base = f"HL_{snake(name)}"
    lines = [f"/* {module}.{name} */"]
    offset: int | None = 0
    for field in st.subcons:
        fname = f"{base}_{c_ident(field.name)}"
        size = _fixed_size(field)
        if offset is not None and size is not None:
            lines.append(f"#define {fname}_OFF {offset}u")
            lines.append(f"#define {fname}_SIZE {size}u")
            offset += size
            continue
        kind = _prefix_kind(field)
        if kind is not None:
            what, width = kind
            lines.append(f"#define {fname}_PREFIX {width}u /* u{8 * width} {what} */")
        elif isinstance(field.subcon, C.GreedyBytes.__class__) or field.subcon is C.GreedyBytes:
            lines.append(f"#define {fname}_GREEDY 1 /* the rest of the payload */")
        elif isinstance(field.subcon, C.Struct) and _describe(field.subcon) != "struct":
            lines.append(f"/* {fname}: one {_describe(field.subcon)}, see HL_{snake(_describe(field.subcon))}_* */")
        elif size is not None:
            lines.append(f"#define {fname}_SIZE {size}u")
        else:
            raise SystemExit(f"gen_c_header: cannot describe {name}.{field.name} ({field.subcon!r}) for C; "
                             "teach _prefix_kind() about it")
        if offset is not None:
            lines.append(f"#define {base}_FIXED_PREFIX {offset}u")
            offset = None
    if offset is not None:
        lines.append(f"#define {base}_SIZE {offset}u")
    return lines


# --------------------------------------------------------------------------------------- header
def generate(root: Path = ROOT) -> str:
    P = load_protocols(root)
    from hostlink_protocols_gen import frame as F, messages as M, status as S  # noqa: E402

    out = [
        "/* hl_protocol.h: hostlink protocol v1 constants and layouts for the C board core.",
        " *",
        " * GENERATED by tools/gen_c_header.py from the construct declarations in protocols/.",
        " * Do not edit: change protocols/ and run `python tools/gen_c_header.py`; CI runs it with",
        " * --check and fails when this file is stale. */",
        "#ifndef HL_PROTOCOL_H",
        "#define HL_PROTOCOL_H",
        "",
    ]
    magic = F.MAGIC
    out += [
        f"#define HL_PROTO_VERSION {F.VERSION}u",
        f"#define HL_MAGIC_LEN {len(magic)}u",
    ]
    out += [f"#define HL_MAGIC_{i} 0x{b:02X}u /* '{chr(b)}' */" for i, b in enumerate(magic)]
    out += [f"#define HL_PROTOCOL_MAX_PAYLOAD {F.PROTOCOL_MAX_PAYLOAD}u", ""]

    out.append("/* frame.HeaderFields + hcrc: the 14-byte header, little-endian */")
    off = 0
    for field in F.HeaderFields.subcons:
        size = field.sizeof()
        out.append(f"#define HL_HDR_{c_ident(field.name)}_OFF {off}u")
        out.append(f"#define HL_HDR_{c_ident(field.name)}_SIZE {size}u")
        off += size
    hcrc = F.Header.subcons[1]
    out += [
        f"#define HL_HDR_{c_ident(hcrc.name)}_OFF {off}u",
        f"#define HL_HDR_{c_ident(hcrc.name)}_SIZE {hcrc.sizeof()}u",
        f"#define HL_HEADER_FIELDS_SIZE {F.HeaderFields.sizeof()}u",
        f"#define HL_HEADER_SIZE {F.HEADER_SIZE}u",
        f"#define HL_TRAILER_SIZE {F.TRAILER_SIZE}u",
        f"#define HL_OVERHEAD {F.OVERHEAD}u",
        "",
        "/* CRC check values (CRC of the ASCII bytes \"123456789\") from frame.crc16 / frame.crc32 */",
        f"#define HL_CRC16_CHECK 0x{F.crc16(b'123456789'):04X}u /* CRC-16/CCITT-FALSE */",
        f"#define HL_CRC32_CHECK 0x{F.crc32(b'123456789'):08X}u /* CRC-32/ISO-HDLC (zlib) */",
        "",
    ]

    enums = []
    for module in (F, M, S):
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, enum.Enum) and issubclass(obj, int)
                    and obj.__module__ == module.__name__ and obj not in enums):
                enums.append(obj)
    for cls in enums:
        if cls is S.ErrorCode:
            out += status_block(cls, S.RETRYABLE)
        else:
            prefix = ENUM_PREFIX.get(cls.__name__, f"HL_{snake(cls.__name__)}_")
            out += enum_block(cls, prefix, f"hl_{snake(cls.__name__).lower()}_t")
        out.append("")

    structs = {k: v for k, v in vars(M).items() if isinstance(v, C.Struct)}
    _struct_names.clear()
    _struct_names.update(structs)
    for name, obj in vars(M).items():
        if isinstance(obj, C.FlagsEnum):
            out += flags_block(name, obj, FLAGS_PREFIX.get(name, f"HL_{snake(name)}_"))
            out.append("")
    for name, st in structs.items():
        for field in st.subcons:
            if isinstance(field.subcon, C.FlagsEnum) and not any(field.subcon is v for v in vars(M).values()):
                out += flags_block(f"{name}.{field.name}", field.subcon, f"HL_{snake(name)}_{c_ident(field.name)}_")
                out.append("")
    for name, st in structs.items():
        out += struct_block(name, st)
        out.append("")

    formats_fe = M.Formats
    terms = []
    for fmt in M.ModelFormat:
        bit = formats_fe.flags[M.FORMAT_NAMES[fmt].replace("-", "_")]
        terms.append(f"(f) == HL_FMT_{fmt.name} ? 0x{bit:02X}u")
    out.append("/* ModelFormat -> its bit in DeviceInfo.formats (via messages.FORMAT_NAMES) */")
    out.append(f"#define HL_FORMAT_BIT(f) ({' : '.join(terms)} : 0u)")
    out.append("")

    out.append("/* messages.PAYLOADS: which payload each (type, direction) carries */")
    for (mtype, response), st in M.PAYLOADS.items():
        sname = next(k for k, v in structs.items() if v is st)
        out.append(f"/*   {mtype.name:<13} {'response' if response else 'request ':<8} {sname} */")
    out += ["", "#endif /* HL_PROTOCOL_H */", ""]
    del P
    _check_unique(out)
    return "\n".join(out)


def _check_unique(lines: list[str]) -> None:
    """A macro named like an enum constant would silently rewrite it; refuse to emit one."""
    seen: dict[str, str] = {}
    for line in lines:
        m = re.match(r"\s*(?:#define\s+)?(HL_[A-Z0-9_]+)(?:\s*=|\s|\()", line)
        if m:
            name = m.group(1)
            if name in seen:
                raise SystemExit(f"gen_c_header: {name} would be defined twice ({seen[name]!r} and {line.strip()!r}); "
                                 "rename a field or add a prefix in ENUM_PREFIX/FLAGS_PREFIX")
            seen[name] = line.strip()


def generate_hostport(root: Path = ROOT) -> str:
    """firmware/ports/host/hl_hostport.h from protocols/hostport.py (the Linux port's helper link)."""
    load_protocols(root)
    from hostlink_protocols_gen import hostport as H, messages as M  # noqa: E402

    out = [
        "/* hl_hostport.h: the Linux port's link to its Python helper (protocols/hostport.py).",
        " *",
        " * GENERATED by tools/gen_c_header.py; do not edit. */",
        "#ifndef HL_HOSTPORT_H",
        "#define HL_HOSTPORT_H",
        "",
    ]
    out += enum_block(H.PortOp, ENUM_PREFIX["PortOp"], "hl_port_op_t")
    out.append("")
    shared = {k: v for k, v in vars(M).items() if isinstance(v, C.Struct)}
    own = {k: v for k, v in vars(H).items()
           if isinstance(v, C.Struct) and not any(v is m for m in shared.values())}
    _struct_names.clear()
    _struct_names.update(shared)
    _struct_names.update(own)
    for name, st in own.items():
        out += struct_block(name, st, "hostport")
        out.append("")
    out += ["#endif /* HL_HOSTPORT_H */", ""]
    _check_unique(out)
    return "\n".join(out)


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail when a header on disk is stale")
    args = ap.parse_args(argv)
    stale = 0
    for path, text in ((OUTPUT, generate()), (HOSTPORT_OUTPUT, generate_hostport())):
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), text.splitlines(True),
                                                       _relative(path), "generated"))
            print(f"{_relative(path)} is stale: run `python tools/gen_c_header.py` and commit the result",
                  file=sys.stderr)
            stale = 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {_relative(path)}")
    return stale


if __name__ == "__main__":
    sys.exit(main())
