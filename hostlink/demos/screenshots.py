"""The README's screenshots, made from the synthetic data on the emulated IMX500:

    python -m hostlink.demos.screenshots [OUT_DIR]        (default docs/img)

writes ``gaze_overlay.png`` (the live gaze overlay on a synthetic person looking down-right of
the camera, with the energy HUD of an emulated PPK2 on the board's marker pins),
``gaze_compare.png`` (the same frames on the IMX500 and on the Coral Micro's Edge TPU path, side by
side) and ``segment_overlay.png`` (a synthetic fundus image, its vessel mask from the board: hits
yellow, misses red, false alarms cyan).
"""
from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

import hostlink

from ..errors import HostlinkError
from .calibration import Screen
from .gaze import GazePipeline, run_loop
from .overlay import draw_hud, mask_overlay
from .segment import SegmentRunner
from .synthvideo import Person, write_clip
from .video import FrameSource

GAZE_TARGET_CM = (6.0, -12.0)


def gaze_shot(out: Path, board: str = "emu:imx500", *, boards: tuple[str, ...] | None = None,
              name: str = "gaze_overlay.png", monitor: str | None = "emulated://ppk2", frames: int = 40) -> Path:
    boards = boards or (board,)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        # the generator's own portrait camera: the frame geometry the bundled model was trained on
        clip = write_clip(Path(tmp) / "look.avi", Person(width=480, height=640), [GAZE_TARGET_CM] * frames)
        last = {}
        devs = [stack.enter_context(hostlink.connect(b)) for b in boards]
        with FrameSource(str(clip)) as src:
            pipe = GazePipeline(devs, screen=Screen(), monitor=monitor)
            for lane in pipe.lanes:
                lane.hud.period_s = 0.0  # the shot shows the HUD of its own frame

            def keep(frame, gf):
                # the true target too, as a hollow square: only synthetic data knows it
                w = frame.shape[1] // len(devs)
                for k in range(len(devs)):
                    px, py = pipe.screen.to_pixels(GAZE_TARGET_CM, w, frame.shape[0])
                    px += k * w
                    cv2.rectangle(frame, (int(px) - 9, int(py) - 9), (int(px) + 9, int(py) + 9), (255, 255, 255), 1,
                                  cv2.LINE_AA)
                last["frame"] = frame.copy()

            run_loop(pipe, src, on_frame=keep)
            pipe.close()
    path = out / name
    cv2.imwrite(str(path), last["frame"])
    return path


def compare_shot(out: Path) -> Path:
    """The TinyTracker comparison live: IMX500 and Coral Micro (the Edge TPU path of the paper's
    figure) on the same frames, each with its energy HUD."""
    return gaze_shot(out, boards=("emu:imx500", "emu:coralmicro?path=edgetpu"), name="gaze_compare.png")


def segment_shot(out: Path, board: str = "emu:imx500", seed: int = 424_242, size: int = 384) -> Path:
    from .datasets import write_segment
    from .metrics import SegmentationMetrics
    from .segment import read_label, read_rgb

    with tempfile.TemporaryDirectory() as tmp:
        data = write_segment(Path(tmp) / "fundus", 1, seed)
        rgb = read_rgb(data / "images" / "000000.png")
        truth = read_label(data / "labels" / "000000.png", rgb.shape[:2])
    with hostlink.connect(board) as dev:
        runner = SegmentRunner(dev, monitor="emulated://ppk2")
        try:
            res = runner.predict(rgb)
        finally:
            runner.close()
        name = f"{dev.info.board} | {runner.model.name}"
    m = SegmentationMetrics()
    one = m.add(res.prob, truth)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    k = max(1, size // max(rgb.shape[:2]))
    big = lambda img: cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)  # noqa: E731
    over = big(mask_overlay(bgr, res.prob, 0.5, truth))
    e = res.energy
    draw_hud(over, [name, "board: " + "  ".join(f"{s} {v:.2f}" for s, v in res.board_ms.items()) + " ms",
                    f"energy {e.energy_mj:.3f} mJ +/-{e.err_bound_mj:.3f}, {e.mean_mw:.0f} mW busy",
                    f"Dice {one['dice']:.3f}  AUC {one['roc_auc']:.3f}  acc {one['accuracy']:.3f}"])
    sheet = np.concatenate([big(bgr), np.full((over.shape[0], 8, 3), 255, np.uint8), over], axis=1)
    path = out / "segment_overlay.png"
    cv2.imwrite(str(path), sheet)
    return path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "docs/img")
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for make in (gaze_shot, compare_shot, segment_shot):
        try:
            print(f"wrote {make(out)}")
        except HostlinkError as err:  # one shot failing should not cost the other
            print(f"error: {make.__name__}: {err}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
