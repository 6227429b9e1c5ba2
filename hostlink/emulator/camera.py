"""Image sources for an emulated board's sensor, and the board-side preprocessing.

``open_camera(spec)``: None or "pattern" -> synthetic test pattern; an integer -> webcam through
OpenCV; a directory, glob or image file -> the images in turn; a video file -> its frames, looping.
"""
import glob
import os
from pathlib import Path

import numpy as np

from ..errors import ConfigError

_VIDEO_EXT = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v"}
_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm"}


class Camera:
    """A source of RGB uint8 frames (H, W, 3)."""

    name = "camera"

    def read(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass


class TestPattern(Camera):
    """Colour bars with a moving bright disc: deterministic per frame index, never blank."""

    name = "pattern"

    def __init__(self, width: int = 320, height: int = 240):
        self.width, self.height = width, height
        x = np.linspace(0, 1, width, dtype=np.float32)
        y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
        base = np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)),
                         np.broadcast_to(1 - x, (height, width))], axis=-1)
        self._base = (base * 200).astype(np.uint8)
        self._yy, self._xx = np.mgrid[0:height, 0:width]

    def read(self, index: int) -> np.ndarray:
        frame = self._base.copy()
        t = index * 0.15
        cx = self.width * (0.5 + 0.35 * np.cos(t))
        cy = self.height * (0.5 + 0.35 * np.sin(1.3 * t))
        r = min(self.width, self.height) / 8
        disc = (self._xx - cx) ** 2 + (self._yy - cy) ** 2 < r * r
        frame[disc] = (255, 255, 255)
        return frame


class ImageFiles(Camera):
    name = "images"

    def __init__(self, paths: list[str]):
        import cv2

        self._frames = []
        for p in paths:
            img = cv2.imread(p, cv2.IMREAD_COLOR)
            if img is None:
                raise ConfigError(f"cannot read image {p}", "is it a PNG/JPEG/BMP file?")
            self._frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        if not self._frames:
            raise ConfigError("no images found for the camera source")

    def read(self, index: int) -> np.ndarray:
        return self._frames[index % len(self._frames)]


class VideoFile(Camera):
    name = "video"

    def __init__(self, path: str):
        import cv2

        self._cv2 = cv2
        self._path = path
        self._cap = cv2.VideoCapture(path)
        if not self._cap.isOpened():
            raise ConfigError(f"cannot open video {path}", "is it a video file OpenCV can decode (mp4, avi)?")

    def read(self, index: int) -> np.ndarray:
        ok, img = self._cap.read()
        if not ok:  # loop
            self._cap.set(self._cv2.CAP_PROP_POS_FRAMES, 0)
            ok, img = self._cap.read()
            if not ok:
                raise ConfigError(f"video {self._path} has no decodable frames")
        return self._cv2.cvtColor(img, self._cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._cap.release()


class Webcam(VideoFile):
    name = "webcam"

    def __init__(self, index: int):
        import cv2

        self._cv2 = cv2
        self._path = f"camera {index}"
        self._cap = cv2.VideoCapture(index)
        if not self._cap.isOpened():
            raise ConfigError(f"cannot open camera {index}", "is a webcam attached and free? try --camera 1, or a video file")


def open_camera(spec: str | int | None, width: int = 320, height: int = 240) -> Camera:
    if spec is None or spec == "pattern":
        return TestPattern(width, height)
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdecimal()):
        if not 0 <= int(spec) <= 63:  # OpenCV takes a C int; V4L2 numbers devices 0..63
            raise ConfigError(f"camera index {spec} is not a webcam number (0 to 63)", "e.g. --camera 0, or a video file")
        return Webcam(int(spec))
    path = Path(spec)
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.suffix.lower() in _IMAGE_EXT)
        return ImageFiles(files)
    if path.suffix.lower() in _VIDEO_EXT:
        if not path.exists():
            raise ConfigError(f"video {spec} does not exist")
        return VideoFile(str(path))
    files = sorted(glob.glob(os.path.expanduser(str(spec))))
    if not files:
        raise ConfigError(f"camera source {spec!r} matches nothing",
                          "give 'pattern', a webcam index, a video file, an image file, a directory or a glob")
    return ImageFiles(files)


def prepare_input(frame: np.ndarray, shape: tuple[int, ...], dtype, scale: float, zero_point: int) -> np.ndarray:
    """Board-side preprocessing: resize, map channels, normalise to [-1, 1], quantize.

    Channels beyond colour are CoordConv planes spanning [-1, 1] (TinyTracker's grid embedding
    for a face box that fills the frame); one channel means grey.
    """
    import cv2

    _, h, w, c = shape if len(shape) == 4 else (1, *shape)
    img = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    if c == 1:
        planes = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None].astype(np.float32)
    else:
        planes = img[..., : min(3, c)].astype(np.float32)
    x = planes / 127.5 - 1.0
    extra = c - x.shape[-1]
    if extra > 0:
        gx = np.broadcast_to(np.linspace(-1, 1, w, dtype=np.float32), (h, w))
        gy = np.broadcast_to(np.linspace(-1, 1, h, dtype=np.float32)[:, None], (h, w))
        grid = [gx, gy] * ((extra + 1) // 2)
        x = np.concatenate([x, np.stack(grid[:extra], axis=-1)], axis=-1)
    x = x[None]
    dt = np.dtype(dtype)
    if dt.kind == "f" or not scale:
        return x.astype(dt)
    info = np.iinfo(dt)
    q = np.round(x / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dt)
