"""Labelled datasets the eval streams through a board, one sample at a time, in a fixed order.

Layouts read:
- hostlink's own (``dataset.json`` names the task), written by ``write_gaze`` / ``write_segment``
  (``hostlink datasets make-synthetic``): gaze = ``faces/*.png`` + ``samples.jsonl`` (face-grid box
  in cells, target in cm); segmentation = ``images/*.png`` + ``labels/*.png`` + ``fov/*.png``
  (vessel masks and fields of view, same names).
- GazeCapture's published per-subject folders (``*/info.json``), via hostlink.datasets.gazecapture.
- A CHASE_DB1-style folder: images with their grader masks beside them (``Image_01L.jpg`` +
  ``Image_01L_1stHO.png``), or ``images/`` + ``labels/``.
- DRIVE: ``images/`` + ``1st_manual/`` (+ ``mask/`` fields of view), or its ``training/`` and
  ``test/`` folders (``--split``).

Mask naming: hostlink.datasets.vessel_masks. An image is never its own mask, and a folder where no
image has a mask is refused rather than scored.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..datasets.vessel_masks import LAYOUTS, pair_masks
from ..errors import ConfigError
from .segment import IMAGE_EXT, list_images, read_label, read_rgb

FORMAT = "hostlink-dataset-v1"


@dataclass
class GazeSample:
    id: str
    face: np.ndarray  # uint8 RGB (S, S, 3)
    box: tuple  # face-grid x, y, w, h in cells
    target_cm: tuple


@dataclass
class SegmentSample:
    id: str
    image: np.ndarray  # uint8 RGB
    label: np.ndarray  # bool (H, W)
    fov: np.ndarray | None = None  # bool (H, W) field of view, when the dataset has one


class Dataset:
    task: str
    name: str

    def __len__(self) -> int:
        raise NotImplementedError

    def samples(self, start: int = 0) -> Iterator:
        raise NotImplementedError


def _rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ConfigError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class HostlinkGaze(Dataset):
    task = "gaze"

    def __init__(self, root: Path):
        self.root = root
        self.name = f"{root.name} (hostlink gaze)"
        try:
            self.rows = [json.loads(line) for line in (root / "samples.jsonl").read_text().splitlines() if line.strip()]
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot read {root / 'samples.jsonl'}: {err}", "rewrite it: hostlink datasets make-synthetic") from None

    def __len__(self) -> int:
        return len(self.rows)

    def samples(self, start: int = 0) -> Iterator[GazeSample]:
        for row in self.rows[start:]:
            yield GazeSample(row["id"], _rgb(self.root / row["face"]), tuple(row["box"]), tuple(row["target_cm"]))


class GazeCaptureSet(Dataset):
    task = "gaze"

    def __init__(self, root: Path, split: str, size: int = 224):
        from ..datasets import gazecapture

        self.root, self.size = root, size
        self.name = f"GazeCapture {split} ({root})"
        self.entries = gazecapture.index(root, split)
        self._gc = gazecapture

    def __len__(self) -> int:
        return len(self.entries)

    def samples(self, start: int = 0) -> Iterator[GazeSample]:
        cache: dict = {}
        for subj, frame, i in self.entries[start:]:
            if subj not in cache:
                cache.clear()
                cache[subj] = [json.loads((subj / n).read_text()) for n in ("appleFace.json", "faceGrid.json", "dotInfo.json")]
            face, grid, dot = cache[subj]
            img = cv2.imread(str(subj / "frames" / frame), cv2.IMREAD_COLOR)
            if img is None:
                raise ConfigError(f"GazeCapture: cannot decode {subj / 'frames' / frame}")
            crop = self._gc.crop_box(img, face["X"][i], face["Y"][i], face["W"][i], face["H"][i])
            crop = cv2.cvtColor(cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
            yield GazeSample(f"{subj.name}/{frame}", crop, (grid["X"][i], grid["Y"][i], grid["W"][i], grid["H"][i]),
                             (dot["XCam"][i], dot["YCam"][i]))


class SegmentFolder(Dataset):
    task = "segment"

    def __init__(self, images: list[Path], labels_dir: Path, name: str, fov_dir: Path | None = None,
                 fov_suffix: str = ""):
        self.fov_dir = fov_dir if fov_dir is not None and fov_dir.is_dir() else None
        self.fov_suffix = fov_suffix
        self.pairing = pair_masks(images, labels_dir, where=name)  # refuses a folder without masks
        self.pairs = self.pairing.pairs
        self.name = name

    def describe(self) -> str:
        """How many images are scored: printed before a run, so a wrong folder shows at once."""
        return f"{self.name}: {self.pairing.summary()}"

    def _fov_path(self, img: Path) -> Path | None:
        for ext in (".png", ".gif", ".tif"):
            p = self.fov_dir / f"{img.stem}{self.fov_suffix}{ext}"
            if p.is_file():
                return p
        return None

    def __len__(self) -> int:
        return len(self.pairs)

    def samples(self, start: int = 0) -> Iterator[SegmentSample]:
        for img, lab in self.pairs[start:]:
            rgb = read_rgb(img)
            fov = None
            fov_path = self._fov_path(img) if self.fov_dir is not None else None
            if fov_path is not None:
                fov = read_label(fov_path, rgb.shape[:2])
            yield SegmentSample(img.stem, rgb, read_label(lab, rgb.shape[:2]), fov)


def open_dataset(path: str | Path, split: str = "test") -> Dataset:
    root = Path(path)
    if not root.is_dir():
        raise ConfigError(f"dataset folder {root} does not exist",
                          "make one: hostlink datasets make-synthetic --task gaze --out DIR")
    meta = root / "dataset.json"
    if meta.is_file():
        try:
            task = json.loads(meta.read_text()).get("task")
        except ValueError as err:
            raise ConfigError(f"{meta} is not valid JSON: {err}") from None
        if task == "gaze":
            return HostlinkGaze(root)
        if task == "segment":
            return SegmentFolder(list_images([root / "images"]), root / "labels", f"{root.name} (hostlink segment)",
                                 root / "fov")
        raise ConfigError(f"{meta} names task {task!r}; expected gaze or segment")
    if any((p / "info.json").is_file() for p in root.iterdir() if p.is_dir()):
        return GazeCaptureSet(root, split)
    drive_split = root / {"train": "training"}.get(split, split)
    if not (root / "images").is_dir() and (drive_split / "images").is_dir() and (drive_split / "1st_manual").is_dir():
        root = drive_split  # DRIVE as unpacked: training/ and test/
    if (root / "images").is_dir() and (root / "1st_manual").is_dir():
        return SegmentFolder(list_images([root / "images"]), root / "1st_manual", f"{root.name} (DRIVE layout)",
                             root / "mask", fov_suffix="_mask")
    if (root / "images").is_dir() and (root / "labels").is_dir():
        return SegmentFolder(list_images([root / "images"]), root / "labels", root.name)
    if any(p.suffix.lower() in IMAGE_EXT for p in root.iterdir()):
        return SegmentFolder(list_images([root]), root, f"{root.name} (images with masks beside them)")
    raise ConfigError(f"{root} is not a dataset hostlink knows",
                      "expected dataset.json (hostlink datasets make-synthetic), GazeCapture subject folders, "
                      f"or vessel images with masks: {LAYOUTS}")


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


def write_gaze(out: Path, n: int, seed: int, size: int = 112, progress=None) -> Path:
    """``n`` synthetic gaze samples (hostlink.datasets.synthetic.gaze_samples) in hostlink's layout."""
    from ..datasets.synthetic import gaze_samples

    out = Path(out)
    (out / "faces").mkdir(parents=True, exist_ok=True)
    rows = []
    # Up to `chunk` samples come from one generator call, so the first N of a seed are the same
    # samples a model card's held-out set of that seed holds; larger sets continue in chunks.
    chunk = 1000
    for lo in range(0, n, chunk):
        part = gaze_samples(min(chunk, n - lo), seed + lo, size=size)
        for j in range(len(part)):
            i = lo + j
            name = f"faces/{i:06d}.png"
            cv2.imwrite(str(out / name), cv2.cvtColor(part.faces[j], cv2.COLOR_RGB2BGR))
            rows.append(dict(id=f"{i:06d}", face=name, box=[round(float(v), 5) for v in part.boxes[j]],
                             target_cm=[round(float(v), 4) for v in part.targets[j]],
                             distance_cm=round(float(part.distance[j]), 3)))
        if progress:
            progress(min(n, lo + chunk), n)
    (out / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _write_json(out / "dataset.json", dict(format=FORMAT, task="gaze", count=n, seed=seed, size=size,
                                           generator="hostlink.datasets.synthetic.gaze_samples",
                                           note=f"generated in chunks of {chunk}, chunk k from seed + {chunk}*k"))
    return out


def write_segment(out: Path, n: int, seed: int, size: int = 96, progress=None) -> Path:
    """``n`` synthetic fundus images with vessel masks (hostlink.datasets.synthetic.fundus_samples)
    in hostlink's layout."""
    from ..datasets.synthetic import fundus_samples

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    (out / "fov").mkdir(parents=True, exist_ok=True)
    chunk = 1000  # as for gaze: the first N of a seed are the generator's first N
    for lo in range(0, n, chunk):
        part = fundus_samples(min(chunk, n - lo), seed + lo, size=size)
        for j in range(len(part)):
            name = f"{lo + j:06d}.png"
            cv2.imwrite(str(out / "images" / name), cv2.cvtColor(part.images[j], cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(out / "labels" / name), (part.masks[j] > 0).astype(np.uint8) * 255)
            cv2.imwrite(str(out / "fov" / name), (part.fov[j] > 0).astype(np.uint8) * 255)
        if progress:
            progress(min(n, lo + chunk), n)
    _write_json(out / "dataset.json", dict(format=FORMAT, task="segment", count=n, seed=seed, size=size,
                                           generator="hostlink.datasets.synthetic.fundus_samples",
                                           note=f"generated in chunks of {chunk}, chunk k from seed + {chunk}*k"))
    return out
