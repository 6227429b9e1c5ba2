"""Where demo frames come from and go to: a webcam or a video file in, a window and/or a video file out.

Frames stay BGR (OpenCV's order) from capture to display; only the model's face crop is turned
into RGB. The window is OpenCV's if its build has a GUI, else a Tk window; with no display at
all (no DISPLAY, a headless OpenCV and no Tk, or a window that fails to open) the demo says so
and runs headless instead of crashing.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError


class FrameSource:
    """Frames from a webcam (``int``) or a video file (path), optionally mirrored to a selfie view."""

    def __init__(self, spec: int | str, mirror: bool = False, width: int | None = None, height: int | None = None):
        self.live = isinstance(spec, int)
        self.name = f"camera {spec}" if self.live else str(spec)
        if not self.live and not Path(spec).is_file():
            raise ConfigError(f"video file {spec} does not exist", "check the path, or use --camera N")
        logging = getattr(getattr(cv2, "utils", None), "logging", None)
        if logging is not None:  # errors only: a missing camera is reported below, not as backend warnings
            logging.setLogLevel(logging.LOG_LEVEL_ERROR)
        self.cap = cv2.VideoCapture(spec)
        if not self.cap.isOpened():
            raise ConfigError(f"cannot open {self.name}",
                              "is a webcam attached and free? try --camera 1, or --video FILE" if self.live
                              else "is it a video OpenCV can decode (mp4, avi, mkv)?")
        if self.live and width and height:
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self.mirror = mirror
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 1 <= fps <= 240 else 30.0
        n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT)) if not self.live else 0
        self.frame_count = n if n > 0 else None

    def read(self) -> np.ndarray | None:
        ok, frame = self.cap.read()
        if not ok:
            if self.live:
                raise ConfigError(f"{self.name} stopped delivering frames", "is another program using the camera?")
            return None
        return cv2.flip(frame, 1) if self.mirror else frame

    def close(self) -> None:
        self.cap.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class VideoSink:
    """An mp4 (or avi) file written frame by frame; created on the first frame (its size)."""

    def __init__(self, path: str | Path, fps: float):
        self.path = Path(path)
        self.fps = fps
        self._w = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if self._w is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*("MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"))
            self._w = cv2.VideoWriter(str(self.path), fourcc, self.fps, (frame.shape[1], frame.shape[0]))
            if not self._w.isOpened():
                raise ConfigError(f"cannot write video {self.path}", "use a .mp4 or .avi name in a writable folder")
        self._w.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self._w is not None:
            self._w.release()
            self._w = None


def display_problem() -> str | None:
    """Why no window can be shown here, or None if one probably can (opening it is the real test)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    return None


class Window:
    """A window that shows frames and reports keys; ``None`` from ``open_window`` means headless."""

    def show(self, frame: np.ndarray) -> int:
        raise NotImplementedError

    def close(self) -> None:
        pass


class CvWindow(Window):
    def __init__(self, title: str, fullscreen: bool = False):
        self.title = title
        if fullscreen:
            # Stretched to the whole screen (no letterbox): frame pixels map linearly onto the
            # screen, which is what the gaze overlay and the calibration dots assume.
            cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_FREERATIO)
            cv2.setWindowProperty(title, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
        else:
            cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE)

    def show(self, frame: np.ndarray) -> int:
        cv2.imshow(self.title, frame)
        key = cv2.waitKey(1)
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return 27  # closed with the mouse: treat as Esc
        return key & 0xFF if key >= 0 else -1

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
        except cv2.error:
            pass


class TkWindow(Window):
    """For headless OpenCV builds (opencv-python-headless) on a machine that does have a display."""

    def __init__(self, title: str, fullscreen: bool = False):
        import tkinter

        self._tk = tkinter
        self.root = tkinter.Tk()
        self.root.title(title)
        self.size = None
        if fullscreen:
            self.root.attributes("-fullscreen", True)
            self.size = (self.root.winfo_screenwidth(), self.root.winfo_screenheight())
        self.label = tkinter.Label(self.root)
        self.label.pack()
        self._key = -1
        self._closed = False
        self.root.bind("<Key>", self._on_key)
        self.root.protocol("WM_DELETE_WINDOW", self._on_close)
        self._img = None

    def _on_key(self, event) -> None:
        self._key = ord(event.char) if event.char else -1

    def _on_close(self) -> None:
        self._closed = True

    def show(self, frame: np.ndarray) -> int:
        if self._closed:
            return 27
        if self.size is not None:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_LINEAR)
        h, w = frame.shape[:2]
        # Tk's PhotoImage reads binary PPM (RGB); writing the header by hand is 10x cheaper than imencode.
        ppm = b"P6 %d %d 255\n" % (w, h) + cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).tobytes()
        if self._img is None or (self._img.width(), self._img.height()) != (w, h):
            self._img = self._tk.PhotoImage(data=ppm, format="PPM")
            self.label.configure(image=self._img)
        else:
            self._img.configure(data=ppm, format="PPM")
        self.root.update()
        key, self._key = self._key, -1
        return 27 if self._closed else key

    def close(self) -> None:
        try:
            self.root.destroy()
        except Exception:  # already gone with the window manager
            pass


def open_window(title: str, say=print, fullscreen: bool = False) -> Window | None:
    """A window, or None after saying why the demo runs headless."""
    problem = display_problem()
    if problem is None:
        try:
            return CvWindow(title, fullscreen)
        except cv2.error:
            pass  # headless OpenCV build: try Tk next
        try:
            return TkWindow(title, fullscreen)
        except Exception as err:  # no Tk, or the display refused the connection
            problem = f"cannot open a window (OpenCV has no GUI in this build; Tk: {err})"
    say(f"{problem}: running headless (use --output FILE.mp4 to keep the overlay)")
    return None
