"""Host inputs on the IMX500: the input tensor the sensor's DNN takes, built from an RGB image, and
the frame matching that tells which outputs belong to it.

Facts from picamera2 (raspberrypi/picamera2 at 3e6dff099d3982c8fbdb25f7cbe2e4c17bac34f7,
``picamera2/devices/imx500/imx500.py`` and ``examples/imx500/imx500_object_detection_injection_demo.py``):

* ``IMX500(network_file, tensor_injection=True)`` enables injection (V4L2 control 0x00982903)
  before the network firmware is set; a tensor goes to the driver as a memfd whose descriptor is
  written to control 0x00982904 (``IMX500.__set_input_tensor``), and control 0x00982905
  (``get_injection_cmp_frm()``) then gives the 8-bit frame count whose outputs will be the
  injected tensor's. ``CnnOutputTensorInfo`` carries each frame's count (``frameCount``); the
  signed 8-bit difference count - cmp is 0 for the tensor's outputs, negative for outputs of an
  earlier input, positive when the frame meant for it went by without them (the demo injects again).
* The tensor is planar, one plane per channel in the network's ``inputTensorFormat`` order (RGB or
  BGR), each plane padded with zeros to a width that is a multiple of 32 and an even height;
  int8 when the sign bit (bit 12) of ``inputTensorNorm_K03`` is set, else uint8.
* The sensor normalises camera pixels with the converter's settings in ``network_info.txt``: per
  plane i an offset ``norm_val`` (K03, K13, K23: 13-bit two's complement, applied << 4) and a gain
  ``div_val`` (K00/K02, K11, K22/K20 for RGB/BGR: 12-bit two's complement, applied >> 6).
  picamera2 turns a tensor back into pixels with
  ``pixel = ((((t << 4) - norm_val) << 6) // div_val) & 0xFF``; the agent applies the forward map,
  ``t = (((pixel * div_val) >> 6) + norm_val) >> 4``, saturated to the tensor's type, so an
  injected image reaches the DNN as the same image from the sensor would. With picamera2's
  defaults (norm -2048, div 1024) that is ``t = pixel - 128``, what ``prepare_tensor_for_injection``
  makes of a [0, 1] float image.
* picamera2 only ever enables injection; the agent turns it off again itself (the same control,
  value 0) when it goes back to the sensor's frames.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

ENABLE_INJECTION_CTRL_ID = 0x00982903
INPUT_TENSOR_FD_CTRL_ID = 0x00982904
INJECTION_CMP_FRM_CTRL_ID = 0x00982905
VIDIOC_S_CTRL = 0xC008561C  # _IOWR('V', 28, struct v4l2_control { __u32 id; __s32 value; })

NORM_SHIFT = 4
DIV_SHIFT = 6
DEFAULT_NORM = -2048
DEFAULT_DIV = 1024


class InjectionError(ValueError):
    """The network's input cannot be injected (its settings say something this agent cannot build)."""


def v4l2_control(cid: int, value: int) -> bytes:
    """struct v4l2_control as VIDIOC_S_CTRL takes it."""
    return struct.pack("<Ii", cid, value)


def _twos(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def frame_delta(frame_count: int, cmp_frame: int) -> int:
    """frame_count - cmp_frame on the 8-bit counter, as a signed difference in -128..127."""
    d = (frame_count - cmp_frame) & 0xFF
    return d - 0x100 if d > 0x7F else d


@dataclass(frozen=True)
class InputTensorLayout:
    """How one network wants its injected input: size, plane order, type and normalisation."""

    width: int
    height: int
    fmt: str  # "RGB" or "BGR": the order of the planes
    signed: bool
    norm_val: tuple[int, int, int]
    div_val: tuple[int, int, int]

    @classmethod
    def from_network_info(cls, ni) -> "InputTensorLayout":
        """From a parsed network_info.txt (protocols/imx500_rpk.NetworkInfo)."""
        fmt = (ni.input_format or "RGB").upper()
        if fmt not in ("RGB", "BGR"):
            raise InjectionError(f"the network's input format is {fmt}; this agent injects RGB or BGR tensors only")
        k = ni.norm
        if "K03" in k:
            norm = tuple(_twos(k.get(f"K{i}3", 0), 13) for i in range(3))
            signed = bool((k["K03"] >> 12) & 1)
        else:  # no settings in the package: picamera2's defaults
            norm, signed = (DEFAULT_NORM,) * 3, True
        gains = ("K00", "K11", "K22") if fmt == "RGB" else ("K02", "K11", "K20")
        div = tuple(_twos(k[g], 12) if g in k else DEFAULT_DIV for g in gains)
        if any(d == 0 for d in div):
            raise InjectionError(f"the network's input gains {div} include 0: the tensor would be constant")
        return cls(int(ni.input_width), int(ni.input_height), fmt, signed, norm, div)

    @property
    def padded_width(self) -> int:
        return (self.width + 31) // 32 * 32

    @property
    def padded_height(self) -> int:
        return (self.height + 1) // 2 * 2

    @property
    def nbytes(self) -> int:
        return 3 * self.padded_width * self.padded_height

    @property
    def dtype(self):
        return np.int8 if self.signed else np.uint8

    def planes(self, image_rgb: np.ndarray) -> np.ndarray:
        """(3, H, W) tensor planes, normalised and saturated, for a uint8 (H, W, 3) RGB image."""
        img = np.asarray(image_rgb)
        if img.shape != (self.height, self.width, 3) or img.dtype != np.uint8:
            raise InjectionError(f"an injected input is a uint8 RGB image of {self.height}x{self.width}x3, "
                                 f"got {img.dtype} {img.shape}")
        src = (0, 1, 2) if self.fmt == "RGB" else (2, 1, 0)
        out = np.empty((3, self.height, self.width), np.int32)
        for i, c in enumerate(src):
            px = img[:, :, c].astype(np.int32)
            out[i] = (((px * self.div_val[i]) >> DIV_SHIFT) + self.norm_val[i]) >> NORM_SHIFT
        lo, hi = (-128, 127) if self.signed else (0, 255)
        return np.clip(out, lo, hi).astype(self.dtype)

    def tensor(self, image_rgb: np.ndarray) -> bytes:
        """The bytes the driver takes: planar, each plane zero-padded to (padded_height, padded_width)."""
        planes = self.planes(image_rgb)
        padded = np.zeros((3, self.padded_height, self.padded_width), self.dtype)
        padded[:, :self.height, :self.width] = planes
        return padded.tobytes()

    def unpack(self, data: bytes) -> np.ndarray:
        """The (3, H, W) planes back out of the driver's bytes (what the DNN sees)."""
        if len(data) != self.nbytes:
            raise InjectionError(f"an input tensor for this network is {self.nbytes} bytes, got {len(data)}")
        padded = np.frombuffer(data, self.dtype).reshape(3, self.padded_height, self.padded_width)
        return padded[:, :self.height, :self.width]
