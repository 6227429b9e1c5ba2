"""Write small but well-formed ELF32 ARM executables for the flashing tests (no toolchain here).

Sections: NULL, one PROGBITS section per segment, .symtab, .strtab, .shstrtab; one PT_LOAD per
segment. pyelftools reads them like a linker's output.
"""
import struct

EM_ARM = 40
ET_EXEC = 2
PT_LOAD = 1
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB = 1, 2, 3


def make_elf(segments: list[tuple[int, bytes, int]], entry: int, symbols: dict[str, int] | None = None,
             debug_blob: bytes = b"") -> bytes:
    """``segments``: (address, file bytes, memsize). ``debug_blob`` lands in a trailing section
    that a stripper must drop."""
    symbols = symbols or {}
    ehsize, phentsize, shentsize = 52, 32, 40
    phoff = ehsize
    data_off = phoff + phentsize * len(segments)
    body = bytearray()
    seg_offsets = []
    for _, data, _ in segments:
        pad = (-(data_off + len(body))) % 16
        body += bytes(pad)
        seg_offsets.append(data_off + len(body))
        body += data
    strtab = bytearray(b"\0")
    syms = bytearray(bytes(16))
    for name, value in symbols.items():
        syms += struct.pack("<IIIBBH", len(strtab), value, 4, 0x11, 0, 1)
        strtab += name.encode() + b"\0"
    names = [".text%d" % i for i in range(len(segments))] + [".debug_info", ".symtab", ".strtab", ".shstrtab"]
    shstr = bytearray(b"\0")
    name_off = []
    for n in names:
        name_off.append(len(shstr))
        shstr += n.encode() + b"\0"
    tail_start = data_off + len(body)
    debug_off = tail_start
    symtab_off = debug_off + len(debug_blob)
    strtab_off = symtab_off + len(syms)
    shstr_off = strtab_off + len(strtab)
    shoff = shstr_off + len(shstr)
    shoff += (-shoff) % 4
    blob = bytes(body) + debug_blob + bytes(syms) + bytes(strtab) + bytes(shstr)
    blob += bytes(shoff - data_off - len(blob))
    shnum = 1 + len(names)
    ident = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
    ehdr = ident + struct.pack("<HHIIIIIHHHHHH", ET_EXEC, EM_ARM, 1, entry, phoff, shoff, 0x05000200,
                               ehsize, phentsize, len(segments), shentsize, shnum, shnum - 1)
    phdrs = b"".join(struct.pack("<IIIIIIII", PT_LOAD, off, addr, addr, len(data), memsz, 7, 16)
                     for (addr, data, memsz), off in zip(segments, seg_offsets))
    shdrs = bytes(shentsize)
    for i, ((addr, data, _), off) in enumerate(zip(segments, seg_offsets)):
        shdrs += struct.pack("<IIIIIIIIII", name_off[i], SHT_PROGBITS, 6, addr, off, len(data), 0, 0, 4, 0)
    k = len(segments)
    shdrs += struct.pack("<IIIIIIIIII", name_off[k], SHT_PROGBITS, 0, 0, debug_off, len(debug_blob), 0, 0, 1, 0)
    shdrs += struct.pack("<IIIIIIIIII", name_off[k + 1], SHT_SYMTAB, 0, 0, symtab_off, len(syms),
                         k + 3, 1, 4, 16)
    shdrs += struct.pack("<IIIIIIIIII", name_off[k + 2], SHT_STRTAB, 0, 0, strtab_off, len(strtab), 0, 0, 1, 0)
    shdrs += struct.pack("<IIIIIIIIII", name_off[k + 3], SHT_STRTAB, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0)
    return ehdr + phdrs + blob + shdrs
