"""Which file is the vessel mask of which fundus image, in the layouts the public sets use.

- CHASE_DB1 (one folder): ``Image_01L.jpg`` with its graders' masks ``Image_01L_1stHO.png`` and
  ``Image_01L_2ndHO.png`` beside it; the first observer is the reference.
- DRIVE: ``images/21_training.tif`` (``01_test.tif``), vessel masks ``1st_manual/21_manual1.gif``
  (test set also ``2nd_manual/01_manual2.gif``), field-of-view masks ``mask/21_training_mask.gif``.
  ``_mask`` is a field of view in DRIVE (and HRF), never a vessel mask.
- hostlink's own (``datasets make-synthetic``) and any ``images/`` + ``labels/`` pair of folders:
  the same file name in both.

A mask is never the image itself: the same name only counts in a different folder, and a file that
resolves to the image is skipped, so a folder of images alone has no masks (and is refused by the
callers), instead of scoring each image against itself.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

#: Vessel-mask suffixes, first observer first: CHASE_DB1's graders, DRIVE's manual segmentations,
#: then generic names.
VESSEL_SUFFIXES = ("_1stHO", "_manual1", "_2ndHO", "_manual2", "_label", "_labels", "_vessels", "_gt")
#: Field-of-view suffixes (DRIVE, HRF): such a file is neither an image nor a vessel mask.
FOV_SUFFIXES = ("_mask", "_fov")
MASK_EXT = (".png", ".gif", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg", ".ppm")
#: DRIVE names its masks by image number: 21_training.tif -> 21_manual1.gif.
_DRIVE_IMAGE = re.compile(r"^(\d+)_(training|test)$", re.IGNORECASE)

LAYOUTS = ("CHASE_DB1 (Image_01L.jpg + Image_01L_1stHO.png in one folder), "
           "DRIVE (images/ + 1st_manual/, optional mask/), "
           "hostlink (images/ + labels/ with the same names; datasets make-synthetic)")


def looks_like_mask(path: Path) -> bool:
    """A vessel or field-of-view mask by its name (so a folder listing can skip it as an image)."""
    stem = path.stem
    return any(stem.endswith(s) for s in VESSEL_SUFFIXES + FOV_SUFFIXES) or bool(
        re.fullmatch(r"\d+_manual\d", stem))


def mask_stems(image: Path, same_folder: bool) -> list[str]:
    """File stems that would be ``image``'s vessel mask, in order of preference."""
    stems = [image.stem + s for s in VESSEL_SUFFIXES]
    m = _DRIVE_IMAGE.match(image.stem)
    if m:
        stems += [f"{m.group(1)}_manual1", f"{m.group(1)}_manual2"]
    if not same_folder:
        stems.insert(0, image.stem)  # images/NAME.png with labels/NAME.png
    return stems


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def find_mask(labels_dir: Path, image: Path) -> Path | None:
    """``image``'s vessel mask in ``labels_dir``, or None. Never the image itself."""
    labels_dir = Path(labels_dir)
    same = _same_file(labels_dir, image.parent)
    for stem in mask_stems(image, same):
        for ext in MASK_EXT:
            cand = labels_dir / f"{stem}{ext}"
            if cand.is_file() and not _same_file(cand, image):
                return cand
    return None


@dataclass
class Pairing:
    """Images with their masks, and the images that have none."""

    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    unmatched: list[Path] = field(default_factory=list)

    def mask_for(self, image: Path) -> Path | None:
        return dict(self.pairs).get(image)

    def summary(self) -> str:
        text = f"{len(self.pairs)} image/mask pair(s)"
        if self.unmatched:
            names = ", ".join(p.name for p in self.unmatched[:3]) + (" ..." if len(self.unmatched) > 3 else "")
            text += f"; {len(self.unmatched)} image(s) without a mask, not scored ({names})"
        return text


def pair_masks(images: list[Path], labels_dir: Path, where: str | None = None) -> Pairing:
    """Pair each image with its mask; refuse (ConfigError) when no image has one."""
    labels_dir = Path(labels_dir)
    if not labels_dir.is_dir():
        raise ConfigError(f"mask folder {labels_dir} does not exist", f"layouts understood: {LAYOUTS}")
    out = Pairing()
    for img in images:
        mask = find_mask(labels_dir, img)
        if mask is None:
            out.unmatched.append(img)
        else:
            out.pairs.append((img, mask))
    if not out.pairs:
        raise ConfigError(
            f"no image in {where or labels_dir} has a vessel mask in {labels_dir} ({len(images)} image(s) "
            f"looked at; an image is never its own mask)", f"layouts understood: {LAYOUTS}")
    return out
