"""Vessel segmentation through a board: image -> INT8 tiles -> board -> vessel probability map.

The model (Q-Segment-style, papers.md §2) takes a small square RGB input (96x96 for the bundled
one). An image is either resized to that square in one pass (how the bundled model was trained,
on whole synthetic fundus images) or, with ``scale`` larger than the input, resized so its longer
side is ``scale`` pixels and cut into overlapping tiles whose probabilities are averaged. Each
tile is quantized with the input tensor's own scale and zero point through a 256-entry table.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..client import model_format_for
from ..datasets.vessel_masks import LAYOUTS, find_mask, looks_like_mask
from ..errors import ConfigError
from ..protocols import ModelFormat
from .boardcall import InterpreterProbe, ensure_model
from .energy import EnergyMeter, FrameEnergy

DEFAULT_MODEL = "qsegment_int8.tflite"
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".gif"}
# which file is which image's mask: hostlink.datasets.vessel_masks (CHASE_DB1, DRIVE, hostlink)


def read_card(model_path: Path) -> dict:
    """The model's card (``<name>.card.json`` beside it), or {} if it has none."""
    card = Path(model_path).with_suffix("").as_posix() + ".card.json"
    try:
        return json.loads(Path(card).read_text())
    except (OSError, ValueError):
        return {}


def output_kind(card: dict, ops: list[str]) -> str:
    """"probability" if the model ends in a sigmoid, else "logit" (the card's word wins)."""
    kind = str(card.get("output", {}).get("kind", "")).lower()
    if kind in ("logit", "probability"):
        return kind
    return "probability" if "LOGISTIC" in ops else "logit"


@dataclass
class SegmentResult:
    prob: np.ndarray  # (H, W) float32 in [0, 1], at the image's resolution
    captures: list = field(default_factory=list)  # CaptureResult per tile
    tiles: list = field(default_factory=list)  # (int8 input, raw outputs) per tile, for reference checks
    #: with a monitor: the tiles' energies (FrameEnergy each, None where the monitor lost one)
    tile_energy: list = field(default_factory=list)

    @property
    def energy(self) -> FrameEnergy | None:
        """The image's energy, all tiles together; None without a monitor or if any tile was lost."""
        if not self.tile_energy or any(e is None for e in self.tile_energy):
            return None
        return FrameEnergy.combine(self.tile_energy)

    def energy_json(self) -> dict:
        """What a per-image row carries: the image's energy, and per inference (one tile)."""
        if not self.tile_energy:
            return {}
        fe = self.energy
        if fe is None:
            return dict(energy=None, energy_missing=True)
        n = len(self.tile_energy)
        return dict(energy=fe.to_json(), energy_per_inference_mj=round(fe.energy_mj / n, 5))

    @property
    def board_ms(self) -> dict:
        out: dict = {}
        for r in self.captures:
            for k, v in r.stages.items():
                out[k] = out.get(k, 0.0) + v.duration_ms
        return out


class SegmentRunner:
    """One board running one segmentation model; ``predict(image_rgb)`` gives a probability map."""

    def __init__(self, dev, model: str | Path | None = None, *, scale: int | None = None, kind: str = "auto",
                 keep_tiles: bool = False, monitor: str | None = None):
        from ..models.tflite import analyze

        self.dev = dev
        self.model_path, self.model_bytes, self.model = ensure_model(dev, model, DEFAULT_MODEL)
        if len(self.model.inputs) != 1 or len(self.model.outputs) != 1:
            raise ConfigError(f"{self.model_path.name} has {len(self.model.inputs)} inputs and "
                              f"{len(self.model.outputs)} outputs; a segmentation model has one of each")
        spec = self.model.inputs[0]
        shape = tuple(spec.shape)
        if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
            raise ConfigError(f"{self.model_path.name} takes {shape}; a segmentation model takes (1, S, S, 3) RGB")
        if spec.dtype not in ("int8", "uint8") or not spec.scale:
            raise ConfigError(f"{self.model_path.name} has a {spec.dtype} input without quantization; the demos run INT8 models")
        out = self.model.outputs[0]
        if int(np.prod(out.shape)) != shape[1] * shape[2]:
            raise ConfigError(f"{self.model_path.name} outputs {out.shape}; expected one value per input pixel "
                              f"({shape[1]}x{shape[2]})")
        self.size = shape[1]
        self.input_spec, self.output_spec = spec, out
        self.card = read_card(self.model_path)
        if kind == "auto":
            tflite = model_format_for(self.model_bytes, str(self.model_path)) in (ModelFormat.TFLITE,
                                                                                 ModelFormat.EDGETPU_TFLITE)
            # a sensor network (IMX500) has no ops to look at: its card says, else "logit"
            kind = output_kind(self.card, analyze(self.model_bytes, name=self.model_path.name).ops if tflite else [])
        self.kind = kind
        self.scale = int(scale or self.size)
        if self.scale < self.size:
            raise ConfigError(f"--scale {self.scale} is below the model's input size {self.size}")
        if spec.dtype == "uint8" and spec.zero_point == 0 and abs(spec.scale * 255.0 - 1.0) < 1e-6:
            # the input is the image itself (pixel / 255): the board normalises it as the network was
            # converted to (the IMX500 in its sensor), so the tile goes as it is
            self._lut = np.arange(256, dtype=np.uint8)
        else:
            self._lut = spec.quantize(np.arange(256, dtype=np.float32) / 127.5 - 1.0).view(np.uint8)
        self.keep_tiles = keep_tiles
        self.probe = InterpreterProbe(dev)
        #: with a monitor: every inference's energy (FrameEnergy), for the run's summary
        self.meter = EnergyMeter.open(monitor, dev) if monitor else None
        self.energies: list[FrameEnergy] = []

    def quantize(self, tile_rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB tile (S, S, 3) -> the model's input, as quantize(tile/127.5 - 1)."""
        return cv2.LUT(np.ascontiguousarray(tile_rgb), self._lut).view(self.input_spec.numpy_dtype).reshape(self.input_spec.shape)

    def to_probability(self, out: np.ndarray) -> np.ndarray:
        v = self.output_spec.dequantize(np.asarray(out)).reshape(self.size, self.size)
        if self.kind == "logit":
            v = 1.0 / (1.0 + np.exp(-np.clip(v, -30, 30)))
        return v.astype(np.float32)

    def run_tile(self, tile_rgb: np.ndarray, res: SegmentResult) -> np.ndarray:
        x = self.quantize(tile_rgb)
        r = self.dev.capture(input=x)[0]
        res.captures.append(r)
        if self.meter is not None:
            self.meter.submit(len(res.captures) - 1, r)
        if self.keep_tiles:
            res.tiles.append((x.copy(), [np.array(o, copy=True) for o in r.outputs]))
        return self.to_probability(r.outputs[0])

    def predict(self, image_rgb: np.ndarray) -> SegmentResult:
        res = self._predict(image_rgb)
        if self.meter is not None:
            # an image is a handful of board calls: resolve them now, so its row is complete
            got = dict(self.meter.finish(self.dev))
            res.tile_energy = [got.get(i) for i in range(len(res.captures))]
            self.energies += [e for e in res.tile_energy if e is not None]
        return res

    def energy_summary(self) -> dict | None:
        """Medians per inference over the run (None without a monitor)."""
        if self.meter is None:
            return None
        out = self.meter.summary(self.energies)
        out["energy_per_inference_mj"] = out.pop("energy_mj")  # one inference = one tile
        return out

    def notice(self) -> str | None:
        return None if self.meter is None else self.meter.notice()

    def close(self) -> None:
        if self.meter is not None:
            self.meter.close()

    def _predict(self, image_rgb: np.ndarray) -> SegmentResult:
        h, w = image_rgb.shape[:2]
        s = self.size
        res = SegmentResult(np.zeros((h, w), np.float32))
        if self.scale == s:
            tile = cv2.resize(image_rgb, (s, s), interpolation=cv2.INTER_AREA)
            prob = self.run_tile(tile, res)
            res.prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
            return res
        k = self.scale / max(h, w)
        sh, sw = max(s, round(h * k)), max(s, round(w * k))
        work = cv2.resize(image_rgb, (sw, sh), interpolation=cv2.INTER_AREA)
        acc = np.zeros((sh, sw), np.float32)
        weight = np.zeros((sh, sw), np.float32)
        stride = max(1, s * 3 // 4)
        ys = _starts(sh, s, stride)
        xs = _starts(sw, s, stride)
        for y in ys:
            for x in xs:
                acc[y:y + s, x:x + s] += self.run_tile(work[y:y + s, x:x + s], res)
                weight[y:y + s, x:x + s] += 1.0
        res.prob = cv2.resize(acc / np.maximum(weight, 1e-6), (w, h), interpolation=cv2.INTER_LINEAR)
        return res


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def list_images(inputs) -> list[Path]:
    """Image files from paths and directories (sorted per directory); label-looking files are skipped."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXT and not _looks_like_label(f))
        elif p.is_file():
            out.append(p)
        else:
            raise ConfigError(f"{p} does not exist", "give image files or directories of images")
    if not out:
        raise ConfigError("no images to segment", "give image files or a directory holding PNG/JPEG images")
    return out


def _looks_like_label(f: Path) -> bool:
    return looks_like_mask(f)


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ConfigError(f"cannot read image {path}", "is it a PNG/JPEG/BMP/TIFF file?")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def find_label(labels_dir: Path, image: Path) -> Path | None:
    """``image``'s vessel mask in ``labels_dir`` (never the image itself), or None."""
    return find_mask(Path(labels_dir), Path(image))


def read_label(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A vessel mask as bool (H, W), resized (nearest) to the image if the grader's file differs in size."""
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        cap = cv2.VideoCapture(str(path))  # GIF labels (DRIVE) decode through the video reader
        ok, frame = cap.read()
        cap.release()
        if not ok:
            raise ConfigError(f"cannot read label {path}")
        m = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    # A mask is two-level (0/255, or 0/1 in some exports; JPEG adds a little ringing). A photograph
    # is not: scoring against one would be a silent wrong answer.
    mid = float(np.mean((m > 40) & (m < 215))) if m.max() > 1 else 0.0
    if mid > 0.05:
        raise ConfigError(f"{path} is not a vessel mask: {mid:.0%} of its pixels are neither dark nor bright",
                          f"a mask is black and white; layouts understood: {LAYOUTS}")
    if m.shape != shape:
        m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return m > (127 if m.max() > 1 else 0)


def fov_mask(image_rgb: np.ndarray, level: int = 20) -> np.ndarray:
    """The fundus field of view: pixels brighter than ``level`` in red, closed and filled."""
    m = (image_rgb[..., 0] > level).astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    return m.astype(bool)


def prob_png(prob: np.ndarray) -> np.ndarray:
    return np.clip(prob * 255.0 + 0.5, 0, 255).astype(np.uint8)
