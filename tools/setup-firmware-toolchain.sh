#!/bin/sh
# Installs what `make firmware`, `make fuzz` and the qemu run need, and only what is missing:
#   gcc-arm-none-eabi + libnewlib-arm-none-eabi   Cortex-M7 / Cortex-M4F cross builds
#   libstdc++-arm-none-eabi-newlib                the C++ library (QEMU TFLM images, vendor ports)
#   clang + libclang-rt-dev                       libFuzzer and the sanitizer runtimes
#   qemu-system-arm                               the mps2-an386 run (skip with HL_WITH_QEMU=0)
# Safe to run repeatedly; it does nothing when everything is there.
set -eu

have() { command -v "$1" >/dev/null 2>&1; }
need=""
have arm-none-eabi-gcc || need="$need gcc-arm-none-eabi"
# newlib can be missing while the compiler is present; its nano.specs tells.
if ! have arm-none-eabi-gcc || ! arm-none-eabi-gcc -print-file-name=nano.specs | grep -q /; then
    need="$need libnewlib-arm-none-eabi"
fi
# --no-install-recommends leaves out the cross C++ library; a one-line compile tells.
if ! have arm-none-eabi-g++ || ! printf '#include <cstddef>\n' | arm-none-eabi-g++ -x c++ -fsyntax-only - 2>/dev/null; then
    need="$need libstdc++-arm-none-eabi-newlib"
fi
have clang || need="$need clang"
if ! have clang || ! clang -print-file-name=libclang_rt.fuzzer-x86_64.a | grep -q / ; then
    # Debian 12 keeps libFuzzer in lib/clang/<v>/lib/linux; -print-file-name misses it there.
    ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || \
        need="$need libclang-rt-dev"
fi
if [ "${HL_WITH_QEMU:-1}" = 1 ] && ! have qemu-system-arm; then
    need="$need qemu-system-arm"
fi

[ -z "$need" ] && exit 0
if ! have apt-get; then
    echo "setup-firmware-toolchain: missing:$need -- install them with your package manager" >&2
    exit 1
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "setup-firmware-toolchain: installing$need" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
