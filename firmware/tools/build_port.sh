#!/bin/sh
# Build a vendor board port inside its SDK checkout and print the image's flash and RAM.
#
#   make -C firmware port BOARD=coralmicro SDK=/path/to/coralmicro
#   make -C firmware port BOARD=spresense  SDK=/path/to/spresense
#
# SDK is a checkout of the vendor SDK with its submodules at the commits docs/firmware.md pins.
# Both builds use Debian's arm-none-eabi-gcc (tools/setup-firmware-toolchain.sh) and treat warnings
# in hostlink's sources as errors. Output: firmware/build/port/<board>/.
set -eu

die() { echo "build_port: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: build_port.sh coralmicro|spresense SDK_DIR"
board=$1
[ -d "$2" ] || die "no SDK checkout at $2: clone it with its submodules (docs/firmware.md, 'Vendor ports')"
sdk=$(cd "$2" && pwd)
fw=$(cd "$(dirname "$0")/.." && pwd)
out="$fw/build/port/$board"
command -v arm-none-eabi-gcc >/dev/null || die "arm-none-eabi-gcc is missing: sh tools/setup-firmware-toolchain.sh"
# The C++ library check runs after the board and SDK checks: a wrong argument is named first.
need_cxx() {
    arm-none-eabi-g++ -x c++ -fsyntax-only - </dev/null 2>/dev/null <<'CXX' || die "arm-none-eabi-g++ has no C++ library headers: apt-get install libstdc++-arm-none-eabi-newlib"
#include <cstddef>
CXX
}

report() { # elf: flash = what is loaded (text + data), RAM = data + bss, per region from the section table
    elf=$1
    arm-none-eabi-size -A -d "$elf" > "$out/size.txt"
    python3 - "$out/size.txt" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith(".")]
flash = sum(int(r[1]) for r in rows if r[0].startswith((".text", ".rodata", ".ARM", ".init_array", ".fini_array", ".interrupts", ".flash_config", ".ivt", ".boot_data", ".dcd_data")) or r[0] in (".data", ".ncache.init", ".sdram_data"))
ram = sum(int(r[1]) for r in rows if r[0] in (".data", ".bss", ".ncache", ".ncache.init", ".sdram_data", ".sdram_bss", ".heap", ".stack", ".ocram_bss", ".ocram_data"))
print(f"image flash {flash / 1024:.1f} KiB ({flash} B), RAM {ram / 1024:.1f} KiB ({ram} B)")
for r in rows:
    if int(r[1]) >= 64 * 1024:
        print(f"  {r[0]:<16} {int(r[1]) / 1024:10.1f} KiB")
PY
}

case "$board" in
coralmicro)
    [ -f "$sdk/cmake/toolchain-arm-none-eabi-gcc.cmake" ] || die "$sdk is not a coralmicro checkout"
    need_cxx
    [ -f "$sdk/third_party/nxp/rt1176-sdk/devices/MIMXRT1176/MIMXRT1176_cm7.h" ] || \
        die "$sdk lacks third_party/nxp/rt1176-sdk/devices/MIMXRT1176/MIMXRT1176_cm7.h: check out its submodules (git submodule update --init --recursive)"
    # The SDK's toolchain file takes gcc 9 from third_party/toolchain-linux (downloading it when that
    # folder is missing). Links there to Debian's tools make it build with those instead.
    tc="$sdk/third_party/toolchain-linux/gcc-arm-none-eabi-9-2020-q2-update/bin"
    mkdir -p "$tc"
    for t in gcc g++ ar objcopy objdump strip size nm ranlib; do
        ln -sf "$(command -v arm-none-eabi-$t)" "$tc/arm-none-eabi-$t"
    done
    # The app is configured from a copy inside the SDK (apps/hostlink_coralmicro, with the core and
    # ports/common under hl/): the SDK's generate_data() copies test data to the build folder by
    # their path relative to the app's source folder, which from this repository would climb out of
    # build/ into the repository itself.
    app="$sdk/apps/hostlink_coralmicro"
    rm -rf "$app"
    mkdir -p "$app/hl/ports"
    cp "$fw/ports/coralmicro/CMakeLists.txt" "$fw/ports/coralmicro/hl_port_coralmicro.cc" "$app/"
    cp -R "$fw/core" "$app/hl/core"
    cp -R "$fw/ports/common" "$app/hl/ports/common"
    cmake -G Ninja -S "$app" -B "$out/cmake/build" -DCORALMICRO_DIR="$sdk" -DCMAKE_BUILD_TYPE=Release
    cmake --build "$out/cmake/build" --target hostlink_coralmicro -j "${HL_PORT_JOBS:-2}"
    report "$out/cmake/build/hostlink_coralmicro"
    ;;
spresense)
    [ -d "$sdk/sdk/tools" ] && [ -f "$sdk/nuttx/Makefile" ] || die "$sdk is not a spresense checkout with its nuttx submodule"
    need_cxx
    command -v kconfig-tweak >/dev/null || die "kconfig-tweak is missing: apt-get install kconfig-frontends"
    # CONFIG_TFLM_RT builds externals/tensorflow from sonydevworld/tflite-micro-spresense-examples,
    # which the SDK's Makefile downloads unless that folder is there
    tag=$(sed -n 's/^TENSORFLOW_TAG *= *//p' "$sdk/externals/tensorflow/TensorflowTag.mk")
    [ -d "$sdk/externals/tensorflow/tflite-micro-spresense-examples-$tag" ] || [ "${HL_PORT_ONLINE:-0}" = 1 ] || \
        die "$sdk/externals/tensorflow/tflite-micro-spresense-examples-$tag is missing: extract tag $tag of github.com/sonydevworld/tflite-micro-spresense-examples there (or HL_PORT_ONLINE=1 to let the SDK download it)"
    # a copy, not a link: NuttX's Application.mk writes objects next to the sources it compiles
    app="$sdk/examples/hostlink"
    rm -rf "$app"
    mkdir -p "$app/hl/ports"
    cp "$fw/ports/spresense/Makefile" "$fw/ports/spresense/Make.defs" "$fw/ports/spresense/Kconfig" \
        "$fw/ports/spresense/hl_port_spresense.c" "$app/"
    cp -R "$fw/core" "$app/hl/core"
    cp -R "$fw/ports/common" "$app/hl/ports/common"
    # the SDK's Makefile tells a user's make (MAKELEVEL 0) from NuttX's recursion: clear make's
    # variables inherited from `make -C firmware port`
    unset MAKELEVEL MAKEFLAGS MFLAGS MAKEOVERRIDES
    cd "$sdk/sdk"
    ./tools/config.py examples/camera examples/tflmrt_lenet
    kconfig-tweak --file ../nuttx/.config --enable EXAMPLES_HOSTLINK
    make olddefconfig >/dev/null
    if [ "${HL_PORT_STEP:-image}" = app ]; then
        # only hostlink's sources, with the SDK's flags, after NuttX's context step: a quick check
        # that the port compiles (warnings as errors) where the whole image takes too long
        make -C ../nuttx context >/dev/null
        make -C "$app" TOPDIR="$sdk/nuttx" APPDIR="$sdk/sdk/apps" SDKDIR="$sdk/sdk" all
        echo "build_port: spresense app compiled (HL_PORT_STEP=app: no image, so no size)"
        exit 0
    fi
    # NuttX archives each app's objects under names that carry the folder they were compiled in
    # (Application.mk's SUFFIX), so objects from an earlier build elsewhere stay in libapps.a and
    # clash at link time: drop every member compiled from one of hostlink's sources first
    for lib in "$sdk/sdk/apps/libapps.a" "$sdk/nuttx/staging/libapps.a"; do
        [ -f "$lib" ] || continue
        for src in "$app"/hl_port_spresense.c "$app"/hl/core/src/*.c "$app"/hl/ports/common/*.c; do
            arm-none-eabi-ar t "$lib" | grep -F "$(basename "$src")." | xargs -r arm-none-eabi-ar d "$lib"
        done
    done
    make -j "${HL_PORT_JOBS:-2}"
    mkdir -p "$out"
    # The CXD5602 loads the whole image from SPI flash into the main core's 1536 KiB SRAM: flash is
    # nuttx.spk, RAM is every section in that region (code too), the heap is what is left, and
    # tflmrt allocates the arena from the heap. hostlink's statics (its objects' .data and .bss)
    # plus the arena must fit the 768 KiB DEVICE_INFO declares.
    arm-none-eabi-size -A -d "$sdk/sdk/nuttx" > "$out/size.txt"
    find "$app" -name '*.o' -exec arm-none-eabi-size -A -d {} + > "$out/app_size.txt"
    arena=$(sed -n 's/^CONFIG_EXAMPLES_HOSTLINK_ARENA=//p' "$sdk/nuttx/.config")
    sym() { arm-none-eabi-nm "$sdk/sdk/nuttx" | awk -v s="$1" '$3 == s {print $1}'; }
    python3 - "$out/size.txt" "$out/app_size.txt" "$(wc -c < "$sdk/sdk/nuttx.spk")" "$arena" "$(sym _ebss)" "$(sym __stack)" <<'PY' || die "the hostlink app does not fit the Spresense's SRAM (above)"
import sys
size, app, spk, arena = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ebss, top = int(sys.argv[5], 16), int(sys.argv[6], 16)
rows = [l.split() for l in open(size) if l.startswith(".")]
# the SRAM at 0x0d000000 is also mapped at 0x2d000000 (where the linker script puts .data and .bss)
ram_lo, ram_hi = 0x0D000000, 0x0D000000 + 1536 * 1024
in_ram = [r for r in rows if int(r[1]) and ram_lo <= int(r[2]) & 0x0FFFFFFF < ram_hi]
ram = sum(int(r[1]) for r in in_ram)
heap = top - ebss
print(f"image flash {spk / 1024:.1f} KiB ({spk} B), RAM {ram / 1024:.1f} KiB ({ram} B)")
for r in in_ram:
    print(f"  {r[0]:<16} {int(r[1]) / 1024:10.1f} KiB")
print(f"  heap left of the 1536 KiB SRAM: {heap / 1024:.1f} KiB")
statics = sum(int(l.split()[1]) for l in open(app) if l.startswith((".data", ".bss")))
need = statics + arena
print(f"hostlink app: statics {statics / 1024:.1f} KiB + arena {arena / 1024:.1f} KiB = {need / 1024:.1f} KiB "
      f"of the 768 KiB it declares")
if need > 768 * 1024 or arena > heap:
    sys.exit(1)
PY
    ;;
*) die "unknown board $board: coralmicro or spresense (the host and qemu ports build with make -C firmware)" ;;
esac
