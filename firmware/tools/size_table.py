#!/usr/bin/env python3
"""Print flash/RAM per Cortex-M target and fail when the core is over budget.

    python3 firmware/tools/size_table.py build/cortex-m7 build/cortex-m4f

Core figures come from the core's objects (build/<target>/core/*.o, built with -ffunction-sections
-fdata-sections, so every function and variable is its own section):
  core flash   .text* + .rodata* + .data* (initial values)
  core RAM     .data* + .bss*, except the frame buffers
  frame bufs   hl_rx_buf + hl_tx_buf + hl_reply_cache: sized by HL_CFG_MAX_PAYLOAD and the cache
               settings, outside the budget like the model arena
  stack        worst case from hl_core_poll down, from gcc's -fcallgraph-info=su graphs; calls
               into the port (hl_port_*) are not included
The image columns are the whole qemu-mps2 ELF (core + port + startup + libc pieces), model slots
excluded. Only the standard library and binutils' `size`; no Python packages needed.

    python3 firmware/tools/size_table.py --image build/cortex-m7/hl-qemu-tflm.elf

prints one image's flash and RAM, the part of its flash that tflite-micro + CMSIS-NN take (from the
linker map next to it), and its model slots and tensor arenas (.model_slots).
"""
import re
import subprocess
import sys
from pathlib import Path

BUDGET_FLASH = 16 * 1024
BUDGET_RAM = 8 * 1024
FRAME_BUFFERS = {"hl_rx_buf", "hl_tx_buf", "hl_reply_cache"}
CPU = {"cortex-m7": "Cortex-M7 (Coral Micro)", "cortex-m4f": "Cortex-M4F (Spresense)"}
SIZE = "arm-none-eabi-size"


def sections(obj: Path) -> list[tuple[str, int]]:
    out = subprocess.run([SIZE, "-A", "-d", str(obj)], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit() and parts[0].startswith("."):
            rows.append((parts[0], int(parts[1])))
    return rows


def core_sizes(objs: list[Path]) -> tuple[int, int, int]:
    flash = ram = frames = 0
    for obj in objs:
        for name, size in sections(obj):
            if name.startswith((".text", ".rodata")):
                flash += size
            elif name.startswith(".data"):
                flash += size
                ram += size
            elif name.startswith(".bss") or name == "COMMON":
                if name.split(".")[-1] in FRAME_BUFFERS:
                    frames += size
                else:
                    ram += size
    return flash, ram, frames


def image_sizes(elf: Path) -> tuple[int, int]:
    flash = ram = 0
    for name, size in sections(elf):
        if name in (".text", ".ARM.exidx", ".ARM.extab", ".init_array"):
            flash += size
        elif name == ".data":
            flash += size
            ram += size
        elif name == ".bss":
            ram += size
    return flash, ram


#: Calls gcc cannot see: the dispatcher's const route table and the reply writer's flush callback.
#: caller (short name) -> pattern of the callees' short names.
INDIRECT = {"drain": re.compile(r"^(hl_)?on_"), "handle": re.compile(r"^(hl_)?on_"),
            "hl_wr_bytes": re.compile(r"^tx_flush")}

_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "[^"]*\\n(\d+) bytes')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')


def worst_stack(ci_files: list[Path], root: str = "hl_core_poll") -> int | None:
    frame: dict[str, int] = {}
    calls: dict[str, set[str]] = {}
    for ci in ci_files:
        text = ci.read_text()
        for name, size in _NODE.findall(text):
            frame[name] = max(frame.get(name, 0), int(size))
        for src, dst in _EDGE.findall(text):
            calls.setdefault(src, set()).add(dst)
    def short(name: str) -> str:
        return name.rsplit(":", 1)[-1].split(".")[0]

    for caller in list(frame):
        pattern = INDIRECT.get(short(caller))
        if pattern is not None:
            calls.setdefault(caller, set()).update(f for f in frame if pattern.match(short(f)))
    if root not in frame:
        return None
    memo: dict[str, int] = {}

    def depth(fn: str, seen: frozenset) -> int:
        if fn in memo:
            return memo[fn]
        if fn in seen:
            raise SystemExit(f"size_table: recursion through {fn}; the core must not recurse")
        below = [depth(c, seen | {fn}) for c in calls.get(fn, ()) if c in frame]
        memo[fn] = frame[fn] + max(below, default=0)
        return memo[fn]

    return depth(root, frozenset())


_MAP_PIECE = re.compile(r"^\s*(?:(\.\S+)\s+)?0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+\.a)\((\S+)\)\s*$")


def runtime_flash(map_file: Path, lib_name: str = "libtensorflow-microlite.a") -> int:
    """Bytes of .text/.rodata/.data the linker took from lib_name (input sections in the map)."""
    total = 0
    pending = None
    text = map_file.read_text()
    # only what was placed: the map first lists the input sections --gc-sections discarded
    start = text.find("Linker script and memory map")
    for line in text[start if start >= 0 else 0:].splitlines():
        m = _MAP_PIECE.match(line)
        if m is None:
            # a long section name sits alone on its line; its address and size follow on the next
            stripped = line.strip()
            pending = stripped if stripped.startswith(".") and " " not in stripped else None
            continue
        name = m.group(1) or pending
        pending = None
        if name and name.startswith((".text", ".rodata", ".data")) and m.group(4).endswith(lib_name):
            total += int(m.group(3), 16)
    return total


def image_report(elf: Path) -> int:
    flash, ram = image_sizes(elf)
    slots = sum(size for name, size in sections(elf) if name == ".model_slots")
    line = f"{elf}: flash {kb(flash)} ({flash} B), RAM {kb(ram)} ({ram} B) + model slots and arenas {kb(slots)}"
    map_file = elf.with_suffix(".map")
    if map_file.exists():
        rt = runtime_flash(map_file)
        line += f"; tflite-micro + CMSIS-NN flash {kb(rt)} ({rt} B)"
    print(line)
    return 0


def kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--image"]:
        return max((image_report(Path(a)) for a in argv[1:]), default=0)
    rows = []
    over = []
    for d in map(Path, argv):
        objs = sorted((d / "core").glob("*.o"))
        if not objs:
            raise SystemExit(f"size_table: no objects in {d}/core; build them first (make -C firmware cross)")
        flash, ram, frames = core_sizes(objs)
        img_flash, img_ram = image_sizes(d / "hl-qemu.elf")
        stack = worst_stack(sorted((d / "core").glob("*.ci")))
        rows.append((CPU.get(d.name, d.name), flash, ram, frames, stack, img_flash, img_ram))
        if flash > BUDGET_FLASH or ram > BUDGET_RAM:
            over.append(d.name)
    head = ("target", "core flash", "core RAM", "frame buffers", "core stack", "image flash", "image RAM")
    table = [head] + [(t, kb(f), kb(r), kb(fb), f"{s} B" if s is not None else "?", kb(imf), kb(imr))
                      for t, f, r, fb, s, imf, imr in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for i, r in enumerate(table):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"budget for the core: flash <= {kb(BUDGET_FLASH)}, RAM <= {kb(BUDGET_RAM)} "
          "(frame buffers and the model arena excluded)")
    if over:
        print(f"OVER BUDGET: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
