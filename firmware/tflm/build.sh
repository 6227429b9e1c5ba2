#!/bin/sh
# Build tflite-micro with CMSIS-NN kernels for the qemu-mps2 images, offline.
#
#   sh firmware/tflm/build.sh TFLITE_MICRO_DIR [cortex-m7|cortex-m4f ...]
#
# TFLITE_MICRO_DIR is a tflite-micro source tree at TFLM_COMMIT below (a checkout, or `git archive`
# of it). tflite-micro's make build downloads its third-party sources on first use; this script
# fills that downloads folder first, from local git repositories at the commits tflite-micro's own
# download scripts name, so no network is needed. It looks for each repository as
#   $HL_TFLM_DEPS/<owner>+<name>/repo   (the layout of a mirror of github.com/<owner>/<name>)
#   $HL_TFLM_DEPS/<owner>/<name>.git    (git clone --mirror)
# HL_TFLM_DEPS defaults to /work/.mirror. Then it runs tflite-micro's Makefile for each CPU with
# Debian's arm-none-eabi-gcc and writes firmware/build/tflm/<cpu>/tflm.mk, which the firmware
# Makefile includes to link the qemu image with the engine (`make -C firmware qemu-tflm`).
set -eu

# Pinned: the tflite-micro commit this was built and tested with, and the third-party commits its
# download scripts (tensorflow/lite/micro/tools/make/{third_party_downloads.inc,*_download.sh,
# ext_libs/cmsis*_download.sh}) name at that commit.
TFLM_COMMIT=90b983c2b3f1480642e040bbd2ddb37b998f3424
DEPS="
cmsis        ARM-software/CMSIS_6     5782d6f8057906d360f4b95ec08a2354afe5c9b9
cmsis/Cortex_DFP ARM-software/Cortex_DFP c2c70a97a20fb355815e2ead3d4a40e35a4a3cdf
cmsis_nn     ARM-software/CMSIS-NN    4ab83cc3cc98fb85ed6dafb55e8ca02f1628dcae
flatbuffers  google/flatbuffers       187240970746d00bbd26b0f5873ed54d2477f9f3
gemmlowp     google/gemmlowp          719139ce755a0f31cbf1c37f7f98adcc7fc9f425
kissfft      mborgerding/kissfft      918336beac80868ad3011cb283063bb224e3e5da
ruy          google/ruy               d37128311b445e758136b8602d1bbd2a755e115d
"
# flatbuffers 187240970746... is tag v25.9.23 and kissfft 918336beac... is tag v130, the tags the
# download scripts fetch.

die() { echo "tflm/build.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: sh firmware/tflm/build.sh TFLITE_MICRO_DIR [cortex-m7|cortex-m4f ...]"
TFLM=$(cd "$1" 2>/dev/null && pwd) || die "no directory $1: give the path of a tflite-micro source tree"
shift
[ -f "$TFLM/tensorflow/lite/micro/tools/make/Makefile" ] || \
    die "$TFLM is not a tflite-micro tree (no tensorflow/lite/micro/tools/make/Makefile)"
if git -C "$TFLM" rev-parse HEAD >/dev/null 2>&1; then
    have=$(git -C "$TFLM" rev-parse HEAD)
    [ "$have" = "$TFLM_COMMIT" ] || [ "${HL_TFLM_ANY_COMMIT:-0}" = 1 ] || \
        die "$TFLM is at $have, not the pinned $TFLM_COMMIT: git -C $TFLM checkout $TFLM_COMMIT (or HL_TFLM_ANY_COMMIT=1)"
fi
command -v arm-none-eabi-gcc >/dev/null || die "arm-none-eabi-gcc is missing: sh tools/setup-firmware-toolchain.sh"
echo '#include <cstddef>' | arm-none-eabi-g++ -x c++ -fsyntax-only - 2>/dev/null || \
    die "arm-none-eabi-g++ has no C++ library headers: apt-get install libstdc++-arm-none-eabi-newlib"
# tflite-micro's Makefile runs `python3` at parse time, its example rules needing numpy and Pillow
# (generate_cc_arrays.py): use the project's venv for that when it is there.
PY=${HL_TFLM_PYTHON:-}
[ -n "$PY" ] || [ ! -x "$(dirname "$0")/../../.venv/bin/python" ] || PY="$(dirname "$0")/../../.venv/bin/python"
[ -n "$PY" ] || PY=$(command -v python3 || true)
"$PY" -c "import numpy, PIL" 2>/dev/null || \
    die "tflite-micro's make needs a python3 with numpy and Pillow: set HL_TFLM_PYTHON (or pip install numpy pillow)"

HERE=$(cd "$(dirname "$0")" && pwd)
FW=$(dirname "$HERE")
DEPS_ROOT=${HL_TFLM_DEPS:-/work/.mirror}
DL="$TFLM/tensorflow/lite/micro/tools/make/downloads"
mkdir -p "$DL"

gitdir_of() { # owner/name -> a git dir, or nothing
    for d in "$DEPS_ROOT/$(echo "$1" | tr / +)/repo" "$DEPS_ROOT/$1.git"; do
        if [ -d "$d" ] && git --git-dir="$d" rev-parse --git-dir >/dev/null 2>&1; then echo "$d"; return; fi
    done
}

# Patch as the download scripts do (bash_helpers.sh apply_patch_to_folder: git apply), in a scratch
# repository so that `git apply` has one to work in.
patch_tree() { # dir patchfile
    ( cd "$1" && git init -q . && git apply --ignore-space-change --ignore-whitespace "$2" && rm -rf .git )
}

echo "$DEPS" | while read -r dir repo commit; do
    [ -n "$dir" ] || continue
    dest="$DL/$dir"
    if [ -f "$dest/.hl-commit" ] && [ "$(cat "$dest/.hl-commit")" = "$commit" ]; then
        continue
    fi
    [ ! -e "$dest" ] || die "$dest exists but is not from $repo@$commit: remove it and run again"
    gd=$(gitdir_of "$repo")
    [ -n "$gd" ] || die "no git repository for $repo under $DEPS_ROOT (clone it: git clone --mirror https://github.com/$repo $DEPS_ROOT/$repo.git; set HL_TFLM_DEPS)"
    git --git-dir="$gd" cat-file -e "$commit^{commit}" 2>/dev/null || \
        die "$gd lacks the pinned commit $commit of $repo: fetch it again"
    mkdir -p "$dest.tmp"
    git --git-dir="$gd" archive "$commit" | tar -x -C "$dest.tmp"
    case "$dir" in
        flatbuffers)
            find "$dest.tmp" \( -name BUILD -o -name BUILD.bazel \) -exec rm -f {} +
            patch_tree "$dest.tmp" "$TFLM/tensorflow/lite/micro/tools/make/flatbuffers.patch" ;;
        kissfft)
            patch_tree "$dest.tmp" "$TFLM/third_party/kissfft/kissfft.patch" ;;
    esac
    echo "$commit" > "$dest.tmp/.hl-commit"
    mv "$dest.tmp" "$dest"
    echo "tflm/build.sh: $dir <- $repo@$commit" >&2
done
# tflite-micro's third_party.inc clones pigweed on every make run; pigweed serves only its unit
# tests, and no library source includes it. An empty folder tells the download script it is there.
[ -d "$DL/pigweed" ] || { mkdir -p "$DL/pigweed"; echo "not used by the library build" > "$DL/pigweed/.hl-empty"; }

SHIM=$(mktemp -d)
trap 'rm -rf "$SHIM"' EXIT
# a wrapper, not a link: a venv's python finds its packages only when called by its own path
printf '#!/bin/sh\nexec "%s" "$@"\n' "$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" > "$SHIM/python3"
chmod +x "$SHIM/python3"
PATH="$SHIM:$PATH"
# kernel sources (basenames) behind the ops engine_tflm.cc registers, with the helpers they share
KERNELS="activations activations_common add add_common arg_min_max batch_to_space_nd cast concatenation conv
conv_common depth_to_space depthwise_conv depthwise_conv_common dequantize dequantize_common expand_dims
fully_connected fully_connected_common gather hard_swish hard_swish_common kernel_util leaky_relu
leaky_relu_common logistic logistic_common maximum_minimum micro_tensor_utils mul mul_common pack pad
pad_common pooling pooling_common prelu prelu_common quantize quantize_common reduce reduce_common reshape
reshape_common resize_bilinear resize_nearest_neighbor shape softmax softmax_common space_to_batch_nd
space_to_depth split squeeze strided_slice strided_slice_common sub sub_common tanh transpose
transpose_common transpose_conv unpack"
KERNELS=$(echo $KERNELS)
JOBS=${HL_TFLM_JOBS:-$(nproc 2>/dev/null || echo 2)}
TOOLROOT=$(dirname "$(command -v arm-none-eabi-gcc)")/
[ $# -gt 0 ] || set -- cortex-m7 cortex-m4f
for cpu in "$@"; do
    case "$cpu" in
        cortex-m7) arch=cortex-m7+fp ;;
        cortex-m4f) arch=cortex-m4+fp ;;
        *) die "unknown CPU $cpu: cortex-m7 (mps2-an500) or cortex-m4f (mps2-an386)" ;;
    esac
    out="$FW/build/tflm/$cpu"
    mkdir -p "$out"
    set -- -f tensorflow/lite/micro/tools/make/Makefile TARGET=cortex_m_generic TARGET_ARCH="$arch" \
        OPTIMIZED_KERNEL_DIR=cmsis_nn TOOLCHAIN=gcc TARGET_TOOLCHAIN_ROOT="$TOOLROOT" BUILD_TYPE=release_with_logs \
        BASE_GENDIR="$out/gen"
    # tflite-micro's own rules and flags compile every object; of its kernels only those the qemu
    # image's op resolver registers (KERNELS) are built, which halves the build. The library is
    # archived from exactly those objects.
    # one parse of tflite-micro's Makefile (each parse regenerates its examples' data) for all lists
    vars=$(cd "$TFLM" && make -s "$@" print-MICROLITE_LIB_OBJS print-MICROLITE_KERNEL_OBJS \
        print-MICROLITE_THIRD_PARTY_OBJS print-MICROLITE_THIRD_PARTY_KERNEL_OBJS print-CXXFLAGS print-INCLUDES 2>/dev/null)
    pick() { echo "$vars" | sed -n "s/^$1=//p"; }
    objs=""
    for v in MICROLITE_LIB_OBJS MICROLITE_KERNEL_OBJS MICROLITE_THIRD_PARTY_OBJS MICROLITE_THIRD_PARTY_KERNEL_OBJS; do
        for o in $(pick $v); do
            if [ "$v" = MICROLITE_KERNEL_OBJS ]; then
                base=$(basename "$o" .o)
                case " $KERNELS " in *" $base "*) ;; *) continue ;; esac
            fi
            objs="$objs $o"
        done
    done
    echo "tflm/build.sh: building $(echo $objs | wc -w) objects for $arch (cmsis_nn kernels)" >&2
    ( cd "$TFLM" && make -s -j"$JOBS" "$@" $objs >&2 )
    lib="$out/libtensorflow-microlite.a"
    rm -f "$lib"
    ( cd "$TFLM" && arm-none-eabi-ar rcs "$lib" $objs )
    cflags=$(pick CXXFLAGS)
    incs=$(pick INCLUDES)
    {
        echo "# written by firmware/tflm/build.sh; tflite-micro $TFLM_COMMIT, $arch, cmsis_nn"
        echo "TFLM_COMMIT := $TFLM_COMMIT"
        echo "TFLM_LIB_$cpu := $lib"
        echo "TFLM_CXXFLAGS_$cpu := $(echo "$cflags" | sed "s#-I\([^/]\)#-I$TFLM/\1#g")"
        echo "TFLM_INCLUDES_$cpu := $(echo "$incs" | sed "s#-I\([^/]\)#-I$TFLM/\1#g")"
    } > "$out/tflm.mk"
    echo "tflm/build.sh: $out/tflm.mk" >&2
done
