"""Loader for a local copy of CHASE_DB1 (papers.md §4): 28 colour fundus images, 999x960,
both eyes of 14 children, with two manual vessel segmentations each:

    ROOT/Image_01L.jpg  ROOT/Image_01L_1stHO.png  ROOT/Image_01L_2ndHO.png  ...  Image_14R.*

hostlink ships no part of it. The usual split is images 01-10 (20 images) for training and
11-14 (8 images) held out. CHASE_DB1 has no field-of-view masks; the lit disc is found by
thresholding the red channel.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError

_NAME = re.compile(r"^Image_(\d{2})([LR])\.jpg$", re.IGNORECASE)
#: Patches are cut at this fraction of full resolution, so a 96x96 patch spans ~1/5 of the retina.
PATCH_SCALE = 0.5


@dataclass
class FundusImage:
    name: str
    subject: int
    image: np.ndarray  # (H, W, 3) uint8 RGB
    mask: np.ndarray  # (H, W) uint8 {0, 1}, first human observer
    fov: np.ndarray  # (H, W) uint8 {0, 1}


def field_of_view(rgb: np.ndarray, threshold: int = 25) -> np.ndarray:
    """The lit disc: red channel above ``threshold``, holes filled by a closing."""
    fov = (rgb[..., 0] > threshold).astype(np.uint8)
    return cv2.morphologyEx(fov, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))


def load(root, observer: str = "1stHO") -> list[FundusImage]:
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"CHASE_DB1: {root} is not a folder", hint="point --data at the unpacked CHASE_DB1")
    out = []
    for path in sorted(root.iterdir()):
        m = _NAME.match(path.name)
        if not m:
            continue
        label = path.with_name(f"{path.stem}_{observer}.png")
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        lab = cv2.imread(str(label), cv2.IMREAD_GRAYSCALE)
        if img is None or lab is None:
            raise ConfigError(f"CHASE_DB1: cannot read {path.name} or {label.name}",
                              hint="each Image_XXL.jpg needs its Image_XXL_1stHO.png beside it")
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        out.append(FundusImage(path.stem, int(m.group(1)), rgb, (lab > 127).astype(np.uint8),
                               field_of_view(rgb)))
    if not out:
        raise ConfigError(f"no CHASE_DB1 images (Image_01L.jpg ...) in {root}")
    return out


def split(images: list[FundusImage], first_heldout_subject: int = 11):
    """(train, held-out) by subject, so both eyes of one child stay on the same side."""
    train = [im for im in images if im.subject < first_heldout_subject]
    held = [im for im in images if im.subject >= first_heldout_subject]
    if not train or not held:
        raise ConfigError("CHASE_DB1: need images on both sides of the subject split",
                          hint=f"subjects below {first_heldout_subject} train, the rest are held out")
    return train, held


def patches(images: list[FundusImage], size: int, n: int, seed: int, scale: float = PATCH_SCALE):
    """``n`` random (size x size) patches at ``scale``: images, masks and field of view."""
    rng = np.random.default_rng(seed)
    small = []
    for im in images:
        w, h = int(im.image.shape[1] * scale), int(im.image.shape[0] * scale)
        small.append((cv2.resize(im.image, (w, h), interpolation=cv2.INTER_AREA),
                      (cv2.resize(im.mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) >= 0.5),
                      cv2.resize(im.fov, (w, h), interpolation=cv2.INTER_NEAREST)))
    x = np.empty((n, size, size, 3), np.uint8)
    y = np.empty((n, size, size), np.uint8)
    f = np.empty((n, size, size), np.uint8)
    for i in range(n):
        img, mask, fov = small[rng.integers(len(small))]
        while True:
            r, c = rng.integers(0, img.shape[0] - size + 1), rng.integers(0, img.shape[1] - size + 1)
            if fov[r + size // 2, c + size // 2]:
                break
        x[i], y[i], f[i] = img[r:r + size, c:c + size], mask[r:r + size, c:c + size], fov[r:r + size, c:c + size]
    return x, y, f
