"""The demo commands: gaze (live overlay), segment (vessel masks), eval (accuracy + bit-exactness),
and ``datasets make-synthetic`` (labelled data for eval and tests)."""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import click
from rich.table import Table

from ..errors import ConfigError, NothingFound
from .common import (MAX_FRAMES, BoardOrPort, Choice, Dimensions, Number, connect_to, echo_json, err_console,
                     open_device, out_console, progress_bar, shown)

BOARD_HELP = "Board: a port URL (emu:imx500, /dev/ttyACM0, socket://HOST:PORT) or a board name (imx500, coralmicro, spresense)."


def open_board(ctx: click.Context, board: str | None):
    """``--board`` may be a port URL or a board name; a name goes through the global --port logic."""
    if board and (":" in board or "/" in board):
        return connect_to(ctx, board)
    return open_device(ctx, board)


def say(msg: str) -> None:
    err_console.print(msg, highlight=False, soft_wrap=True)


MONITOR_HELP = ("Power monitor for energy per stage, as in sessions: ppk2://auto, ppk2:///dev/ttyACM0, joulescope://, "
                "emulated://ppk2 (an emulated board's own).")


def warn(msg: str) -> None:
    say(f"[yellow]warning:[/] {msg}")




# ---------------------------------------------------------------------------------------------- gaze
@click.command()
@click.option("--board", "-b", "board", metavar="URL|NAME", type=BoardOrPort(), multiple=True,
              help=BOARD_HELP + " Twice: the same frames go to both, side by side.")
@click.option("--monitor", "monitor", metavar="ADDR", multiple=True,
              help=MONITOR_HELP + " One per --board (one emulated:// serves every emulated board).")
@click.option("--camera", type=Number(int, min=0, max=63, example="0"), default=None, metavar="N",
              help="Webcam index (default 0 when no --video).")
@click.option("--video", type=click.Path(dir_okay=False), help="Read frames from a video file instead of a camera.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the overlay to this video (.mp4/.avi).")
@click.option("--snapshot", type=click.Path(dir_okay=False), help="Save the last overlay frame with a face as a PNG.")
@click.option("--model", type=click.Path(dir_okay=False), help="Gaze model (default: bundled tinytracker_int8.tflite).")
@click.option("--frames", "-n", type=Number(int, min=1, max=MAX_FRAMES, example="10"), default=None,
              help="Stop after N frames.")
@click.option("--headless", is_flag=True, help="Never open a window.")
@click.option("--fullscreen", is_flag=True, help="Show the overlay stretched over the whole screen, so the gaze point lands "
              "where you look (calibration always runs full screen).")
@click.option("--mirror/--no-mirror", default=None, help="Flip frames to a selfie view (default: on for cameras, off for videos).")
@click.option("--detect", type=Choice(["auto", "async", "sync"]), default="auto", show_default=True,
              help="Face search on its own thread (async) or in the loop (sync); auto: async for cameras, sync for videos.")
@click.option("--calibrate", is_flag=True, help="Run the 9-point calibration first and save it to the profile.")
@click.option("--profile", type=click.Path(dir_okay=False), help="Calibration profile (default ~/.config/hostlink/gaze-profile.json).")
@click.option("--no-profile", is_flag=True, help="Ignore any saved calibration.")
@click.option("--screen", metavar="WxH[+TOP]", type=Dimensions(float, low=1, high=500, offset=True, example="30x19+0.5"),
              help="Screen size in cm below the camera (default 24x20+2).")
@click.option("--size", default="640x480", show_default=True, type=Dimensions(int, low=16, high=8192),
              help="Camera capture size.")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), help="Write one JSON line per frame here.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.pass_context
def gaze(ctx, board, monitor, camera, video, output, snapshot, model, frames, headless, fullscreen, mirror, detect, calibrate, profile,
         no_profile, screen, size, log_path, as_json):
    """Live gaze overlay: camera -> face -> INT8 TinyTracker on the board -> gaze point + stage timings."""
    from ..demos.calibration import Calibration, CalibrationSchedule, Screen, default_profile_path, parse_screen
    from ..demos.gaze import GazePipeline, energy_json, run_loop
    from ..demos.video import FrameSource, VideoSink, open_window

    if video and camera is not None:
        raise ConfigError("give --camera or --video, not both")
    monitors = _monitors_for(board, monitor)
    live = video is None
    cam_w, cam_h = size if isinstance(size, tuple) else Dimensions(int, low=16).convert(size, None, None)
    source = FrameSource((camera or 0) if live else video, mirror=live if mirror is None else mirror,
                         width=cam_w, height=cam_h)
    profile_path = Path(profile) if profile else default_profile_path()
    calib = None
    if not calibrate and not no_profile and profile_path.is_file():
        calib = Calibration.load(profile_path)
        say(f"calibration: {profile_path} ({calib.points} points, residual {calib.residual_cm:.2f} cm)")
    scr = Screen(screen[0], screen[1], *(() if screen[2] is None else (screen[2],))) if screen else (
        calib.screen if calib else parse_screen(None))
    async_detect = detect == "async" or (detect == "auto" and live)
    window = None if headless else open_window("hostlink gaze", say=say, fullscreen=fullscreen or calibrate)
    sink = VideoSink(output, source.fps) if output else None
    log_file = open(log_path, "w") if log_path else None
    last = {}

    def keep(frame, gf):
        if snapshot and gf.face is not None:
            last["frame"] = frame.copy()

    def log_frame(gf):
        for g in [gf] + gf.twins:
            log_file.write(json.dumps(g.to_json()) + "\n")

    try:
        with contextlib.ExitStack() as boards:
            devs = [boards.enter_context(open_board(ctx, b)) for b in (board or (None,))]
            dev = devs[0]
            pipe = GazePipeline(devs, model, calibration=calib, screen=scr, async_detect=async_detect,
                                monitor=monitors)
            boards.callback(pipe.close)
            if calib and calib.model_sha256 and calib.model_sha256 != pipe.model_sha256:
                say("[yellow]warning:[/] the profile was fitted for another model; recalibrate with --calibrate")
            log = log_frame if log_file else None
            summaries = []
            if calibrate:
                fps = source.fps
                schedule = CalibrationSchedule(scr.nine_points(), settle=max(5, int(fps * 0.7)), collect=max(5, int(fps * 0.7)))
                say(f"calibration: look at each of the 9 dots ({schedule.frames / fps:.0f} s)")
                s = run_loop(pipe, source, window=window, sink=sink, log=log, schedule=schedule, on_frame=keep,
                             max_frames=frames, warn=warn)
                summaries.append(s)
                s.calibration.save(profile_path)
                say(f"calibration saved to {profile_path} (residual {s.calibration.residual_cm:.2f} cm over "
                    f"{s.calibration.points} points)")
                if frames is not None:
                    frames = max(0, frames - s.frames)
            if not summaries or not summaries[-1].stopped_by_user:
                summaries.append(run_loop(pipe, source, window=window, sink=sink, log=log, on_frame=keep,
                                          max_frames=frames, warn=warn))
            summary = summaries[-1]
            tracker = pipe.face_tracker
            board_name, engine = dev.info.board_name, pipe.model.engine
            probe = pipe.probe.available
            energy = energy_json(pipe)
    finally:
        source.close()
        if sink:
            sink.close()
        if window:
            window.close()
        if log_file:
            log_file.close()
    if snapshot and "frame" in last:
        _write_png(snapshot, last["frame"])
    out = summary.to_json()
    out.update(board=board_name, engine=engine, face_searches=tracker.searches,
               detect="async" if async_detect else "sync", output=output, snapshot=snapshot if "frame" in last else None,
               **energy)
    if as_json:
        echo_json(out)
    else:
        _print_gaze_summary(out, probe)
    if snapshot and "frame" not in last:
        # Decided: a snapshot is of a frame with a face and its gaze point; without one there is
        # nothing to save, and exiting 0 would let a script believe the file exists.
        raise NothingFound(f"no frame had a face, so --snapshot {snapshot} was not written "
                           f"({out['frames']} frames read)",
                           "check that the video shows a face, well lit and facing the camera")


def _monitors_for(boards: tuple, monitors: tuple) -> list | None:
    """One monitor address per board, or None without --monitor."""
    if not monitors:
        return None
    n = max(len(boards), 1)
    if len(monitors) == 1 and n > 1:
        if not monitors[0].startswith("emulated://"):
            raise ConfigError(f"one --monitor {monitors[0]} for {n} boards: a monitor measures one board",
                              "give one --monitor per --board, in the same order")
        return list(monitors) * n
    if len(monitors) != n:
        raise ConfigError(f"{len(monitors)} --monitor addresses for {n} boards",
                          "give one --monitor per --board, in the same order")
    return list(monitors)


def _energy_rows(t, e: dict, prefix: str = "") -> None:
    """Energy rows of a summary table: per stage, per inference, power, idle."""
    for k, v in e["stages_mj"].items():
        t.add_row(f"{prefix}energy {shown(k)} mJ", "—" if v is None else f"{v:.4f}")
    per = e.get("energy_mj", e.get("energy_per_inference_mj"))
    t.add_row(f"{prefix}energy per inference mJ (± bound)",
              "—" if per is None else f"{per:.4f} (± {e['err_bound_mj']:.4f})")
    if e.get("mean_mw") is not None:
        t.add_row(f"{prefix}mean power while busy mW", f"{e['mean_mw']:.1f}")
    if e.get("idle_mw") is not None:
        t.add_row(f"{prefix}idle baseline mW", f"{e['idle_mw']:.1f}")
    lost = e.get("frames_without_energy", e.get("inferences_without_energy", 0))
    if lost:
        t.add_row(f"{prefix}inferences without energy", f"{lost} ({e.get('dropped') or 'samples lost'})")


def _write_png(path, frame) -> None:
    import cv2

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), frame):
        raise ConfigError(f"cannot write {path}")


def _print_gaze_summary(s: dict, probe: bool) -> None:
    t = Table(title=f"gaze on {shown(s['board'])} ({shown(s['engine'])}): {s['frames']} frames, "
                    f"{s['frames_with_face']} with a face",
              title_justify="left")
    t.add_column("quantity")
    t.add_column("median", justify="right")
    t.add_row("host loop fps", f"{s['fps']:.1f}")
    hs = s["host_side_ms"]
    what = "frame in hand -> overlay, minus the interpreter" if probe else "frame in hand -> overlay, minus the CAPTURE round trip"
    t.add_row(f"host-side ms ({what})", "—" if hs["median"] is None else f"{hs['median']:.2f} (p90 {hs['p90']:.2f})")
    for k, v in s["steps_ms"].items():
        t.add_row(f"  {shown(k)} ms", f"{v:.2f}")
    for k, v in s["board_ms"].items():
        t.add_row(f"board {shown(k)} ms", f"{v:.3f}")
    t.add_row("video read ms", "—" if s["read_ms"]["median"] is None else f"{s['read_ms']['median']:.2f}")
    for lane in s.get("boards") or ([dict(board=s["board"], energy=s["energy"])] if s.get("energy") else []):
        if lane.get("energy"):
            _energy_rows(t, lane["energy"], f"{shown(lane['board'])} " if s.get("boards") else "")
    out_console.print(t)
    if s.get("output"):
        out_console.print(f"overlay video: {s['output']}")
    if s.get("snapshot"):
        out_console.print(f"snapshot: {s['snapshot']}")


# ---------------------------------------------------------------------------------------------- segment
@click.command()
@click.argument("images", nargs=-1, type=click.Path())
@click.option("--board", "-b", "board", metavar="URL|NAME", type=BoardOrPort(), help=BOARD_HELP)
@click.option("--camera", type=Number(int, min=0, max=63, example="0"), default=None, metavar="N",
              help="Segment webcam frames instead of files.")
@click.option("--frames", "-n", type=Number(int, min=1, max=MAX_FRAMES, example="10"), default=None,
              help="With --camera: stop after N frames (default: until Esc).")
@click.option("--labels", type=click.Path(file_okay=False), help="Folder of vessel masks (IMAGE.png, IMAGE_1stHO.png ...): print metrics.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="segment-out", show_default=True,
              help="Where overlay and probability PNGs go.")
@click.option("--model", type=click.Path(dir_okay=False), help="Segmentation model (default: bundled qsegment_int8.tflite).")
@click.option("--scale", type=Number(int, min=8, max=16384, example="512"), default=None,
              help="Longer side the model sees, in pixels; above the input size the image is tiled.")
@click.option("--threshold", type=Number(float, min=0, max=1, example="0.5"), default=0.5, show_default=True,
              help="Vessel probability threshold.")
@click.option("--fov", is_flag=True, help="Score only the fundus field of view (bright disc), not the black corners.")
@click.option("--monitor", metavar="ADDR", help=MONITOR_HELP + " Energy per image and per inference.")
@click.option("--headless", is_flag=True, help="With --camera: never open a window.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.pass_context
def segment(ctx, images, board, camera, frames, labels, out_dir, model, scale, threshold, fov, monitor, headless, as_json):
    """Vessel segmentation: overlays (and metrics with --labels) for IMAGES, a folder, or a camera."""
    import cv2

    from ..demos.metrics import SegmentationMetrics
    from ..demos.overlay import draw_hud, mask_overlay
    from ..datasets.vessel_masks import pair_masks
    from ..demos.segment import SegmentRunner, fov_mask, list_images, prob_png, read_label, read_rgb

    if camera is None and not images:
        raise ConfigError("nothing to segment", "give image files or a folder, or --camera N")
    if camera is not None and images:
        raise ConfigError("give images or --camera, not both")
    paths = list_images(images) if camera is None else []
    pairing = pair_masks(paths, Path(labels)) if labels else None  # refuses a folder without masks
    if pairing:
        say(pairing.summary())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with contextlib.ExitStack() as stack:
        dev = stack.enter_context(open_board(ctx, board))
        runner = SegmentRunner(dev, model, scale=scale, monitor=monitor)
        stack.callback(runner.close)
        hud_head = f"{dev.info.board_name} | {runner.model.name}"
        if camera is not None:
            _segment_camera(runner, camera, frames, out, threshold, headless, hud_head)
            return
        metrics = SegmentationMetrics(threshold) if labels else None
        for path in paths:
            rgb = read_rgb(path)
            t = time.perf_counter()
            res = runner.predict(rgb)
            host_ms = (time.perf_counter() - t) * 1e3
            truth = None
            row = dict(image=str(path), tiles=len(res.captures), host_ms=round(host_ms, 2),
                       board_ms={k: round(v, 3) for k, v in res.board_ms.items()}, **res.energy_json())
            msg = runner.notice()
            if msg:
                warn(f"{msg}; segmentation goes on, images from now on carry no energy")
            if labels:
                lab = pairing.mask_for(path)
                if lab is None:
                    row["label"] = None
                else:
                    truth = read_label(lab, rgb.shape[:2])
                    row["label"] = str(lab)
                    row.update(metrics.add(res.prob, truth, fov_mask(rgb) if fov else None))
            bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            over = mask_overlay(bgr, res.prob, threshold, truth)
            grow = max(1, 384 // max(over.shape[:2]))  # small images: pixels stay visible, the HUD fits
            if grow > 1:
                over = cv2.resize(over, None, fx=grow, fy=grow, interpolation=cv2.INTER_NEAREST)
            board_txt = "  ".join(f"{k} {v:.2f}" for k, v in res.board_ms.items())
            hud = [hud_head, f"board: {board_txt} ms ({len(res.captures)} tile{'s' if len(res.captures) > 1 else ''})"]
            if res.energy is not None:
                hud.append(f"energy {res.energy.energy_mj:.3f} mJ (+/-{res.energy.err_bound_mj:.3f}), "
                           f"{res.energy.mean_mw:.0f} mW busy")
            if "dice" in row:
                hud.append(f"Dice {row['dice']:.3f}  AUC {row['roc_auc']:.3f}  acc {row['accuracy']:.3f}")
            draw_hud(over, hud, scale=max(0.35, min(0.6, over.shape[1] / 1100)))
            cv2.imwrite(str(out / f"{path.stem}_overlay.png"), over)
            cv2.imwrite(str(out / f"{path.stem}_prob.png"), prob_png(res.prob))
            rows.append(row)
        energy = runner.energy_summary()
    total = metrics.summary() if metrics else None
    if metrics:
        (out / "metrics.json").write_text(json.dumps(dict(overall=total, images=rows, energy=energy), indent=2,
                                                     default=float) + "\n")
    if as_json:
        echo_json(dict(out=str(out), images=rows, overall=total, energy=energy))
        return
    t = Table(title=f"segmentation on {shown(dev.info.board_name)}: {len(rows)} image(s) -> {shown(out)}/",
              title_justify="left")
    for col in ("image", "tiles", "board ms", "host ms") + (("energy mJ",) if energy else ()) + (
            ("Dice", "AUC", "acc") if labels else ()):
        t.add_column(col, justify="left" if col == "image" else "right")
    for r in rows:
        cells = [Path(r["image"]).name, str(r["tiles"]), f"{sum(r['board_ms'].values()):.2f}", f"{r['host_ms']:.1f}"]
        if energy:
            cells.append("—" if r.get("energy") is None else f"{r['energy']['energy_mj']:.3f}")
        if labels:
            cells += [f"{r['dice']:.3f}", f"{r['roc_auc']:.3f}", f"{r['accuracy']:.3f}"] if "dice" in r else ["no label"] * 3
        t.add_row(*cells)
    out_console.print(t)
    if total:
        out_console.print(_seg_metrics_line(total))
    if energy:
        out_console.print(_energy_line(energy))


def _energy_line(e: dict) -> str:
    """Energy per inference, one line, for the segment and eval summaries."""
    per = e.get("energy_per_inference_mj", e.get("energy_mj"))
    if per is None:
        return f"energy: no inference measured ({e.get('dropped') or 'no samples'})"
    stages = "  ".join(f"{k} {v:.4f}" for k, v in e["stages_mj"].items() if v is not None)
    lost = e.get("frames_without_energy", e.get("inferences_without_energy", 0))
    return (f"energy per inference {per:.4f} mJ (± {e['err_bound_mj']:.4f}; {stages}), {e['mean_mw']:.1f} mW while busy, "
            f"idle {e['idle_mw'] if e['idle_mw'] is not None else float('nan'):.1f} mW, {e['monitor']}"
            + (f"; {lost} without energy" if lost else ""))


def _seg_metrics_line(m: dict) -> str:
    return (f"overall ({m['pixels']} pixels, threshold {m['threshold']}): accuracy {m['accuracy']:.4f}  "
            f"ROC-AUC {m['roc_auc']:.4f}  Dice {m['dice']:.4f}  sensitivity {m['sensitivity']:.4f}  "
            f"specificity {m['specificity']:.4f}")


def _segment_camera(runner, camera, frames, out, threshold, headless, hud_head) -> None:
    import cv2

    from ..demos.overlay import draw_hud, mask_overlay
    from ..demos.video import FrameSource, open_window

    window = None if headless else open_window("hostlink segment", say=say)
    n = 0
    with FrameSource(camera) as src:
        try:
            while frames is None or n < frames:
                bgr = src.read()
                res = runner.predict(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                over = mask_overlay(bgr, res.prob, threshold)
                draw_hud(over, [hud_head, "board: " + "  ".join(f"{k} {v:.2f}" for k, v in res.board_ms.items()) + " ms"])
                cv2.imwrite(str(out / f"frame_{n:06d}_overlay.png"), over)
                n += 1
                if window is not None and window.show(over) in (27, ord("q")):
                    break
                if window is None and frames is None:
                    say("headless camera run: one frame written; pass --frames N for more")
                    break
        finally:
            if window:
                window.close()
    out_console.print(f"{n} frame(s) -> {out}/")


# ---------------------------------------------------------------------------------------------- eval
@click.command("eval")
@click.option("--board", "-b", "board", metavar="URL|NAME", type=BoardOrPort(), help=BOARD_HELP)
@click.option("--data", required=True, type=click.Path(file_okay=False),
              help="Labelled dataset: hostlink layout (datasets make-synthetic), GazeCapture, or CHASE_DB1-style images + masks.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Run folder (state.json, samples.jsonl); default eval-out/<data name>.")
@click.option("--resume", is_flag=True, help="Continue the run in --out where it stopped.")
@click.option("--model", type=click.Path(dir_okay=False), help="Model (default: bundled tinytracker / qsegment by task).")
@click.option("--limit", type=Number(int, min=1, max=10**9, example="100"), default=None,
              help="Stop after N more samples (resume later).")
@click.option("--split", default="test", show_default=True, type=Choice(("train", "val", "test")),
              help="GazeCapture split.")
@click.option("--threshold", type=Number(float, min=0, max=1, example="0.5"), default=0.5, show_default=True,
              help="Segmentation threshold.")
@click.option("--scale", type=Number(int, min=8, max=16384, example="512"), default=None,
              help="Segmentation: longer side the model sees (tiles above the input size).")
@click.option("--fov", is_flag=True, help="Segmentation: score inside the field of view only (the dataset's fov/ masks, "
              "else the bright disc).")
@click.option("--monitor", metavar="ADDR", help=MONITOR_HELP + " Energy per sample and per inference.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def eval_cmd(ctx, board, data, out_dir, resume, model, limit, split, threshold, scale, fov, monitor, as_json):
    """Stream a labelled dataset through the board, check every output bit-exactly against the host
    reference interpreter, and print the task metrics. Resumable with --resume."""
    from ..demos.datasets import open_dataset
    from ..demos.evaluate import Evaluator, check_bit_exact
    ds = open_dataset(data, split=split)
    if hasattr(ds, "describe"):
        say(ds.describe())
    out = Path(out_dir) if out_dir else Path("eval-out") / Path(data).resolve().name
    with contextlib.ExitStack() as stack:
        dev = stack.enter_context(open_board(ctx, board))
        ev = Evaluator(dev, ds, out, model=model, resume=resume, threshold=threshold, scale=scale, fov=fov,
                       monitor=monitor)
        stack.callback(ev.close)
        if resume:
            say(f"resuming {out}: {ev.state.done} of {ev.state.total} done")
        progress, update = progress_bar(f"eval {ds.task}")
        with progress:
            ev.run(progress=update, limit=limit)
        summary = ev.summary()
        msg = ev.notice()
        if msg:
            warn(f"{msg}; the run went on, samples from then on carry no energy")
    if as_json:
        echo_json(summary)
    else:
        _print_eval(summary, ds.name)
    check_bit_exact(summary, ev.state)


def _print_eval(s: dict, name: str) -> None:
    out_console.print(f"[bold]{s['task']}[/] eval of {shown(s['model'])} on {shown(s['board'])}: "
                      f"{s['samples']} of {s['total']} samples "
                      f"of {name}" + ("" if s["complete"] else " (incomplete: --resume continues)"), highlight=False)
    be = s["bit_exact"]
    ok = be["mismatched"] == 0
    out_console.print(f"bit-exact against the host reference interpreter: {be['checked'] - be['mismatched']}/{be['checked']} "
                      f"board runs" + (" [green]OK[/]" if ok else " [red]MISMATCH[/]"))
    m = s["metrics"]
    if s["task"] == "gaze":
        if m.get("samples"):
            out_console.print(f"mean error {m['mean_error_cm']:.2f} cm (median {m['median_error_cm']:.2f}; "
                              f"predict-the-mean baseline {m['predict_mean_baseline_cm']:.2f} cm); "
                              f"MAE x {m['mae_x_cm']:.2f} y {m['mae_y_cm']:.2f} cm; corr x {m['corr_x']:.2f} y {m['corr_y']:.2f}")
    else:
        out_console.print(_seg_metrics_line(m))
    stages = "  ".join(f"{shown(k)} {v:.3f}" for k, v in s["board_ms_per_sample"].items())
    out_console.print(f"board ms per sample: {stages}; wall {s['elapsed_s']:.1f} s; run folder {s['out']}")
    if s.get("energy"):
        out_console.print(_energy_line(s["energy"]))


# ---------------------------------------------------------------------------------------------- datasets
@click.group()
def datasets():
    """Labelled data for eval and the demos."""


@datasets.command("make-synthetic")
@click.option("--task", type=Choice(["gaze", "segment"]), required=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("-n", "count", type=Number(int, min=1, max=MAX_FRAMES, example="200"), default=200, show_default=True,
              help="Samples.")
@click.option("--seed", type=Number(int, min=0, max=2**32 - 1, example="10000"), default=None,
              help="First seed (default: the held-out seed on the bundled model's card, so metrics compare with it).")
@click.option("--size", type=Number(int, min=16, max=1024, example="112"), default=None,
              help="Image side in pixels (default: 112 for gaze, 96 for segment). The generator's noise depends on the "
                   "size, so a card's held-out set is only reproduced at the model's own input size (TinyTrackerS: 96).")
def make_synthetic(task, out_dir, count, seed, size):
    """Write N procedural samples with known labels (faces with a gaze target, or fundus images with vessel masks)."""
    from ..bundled import models_dir
    from ..demos.datasets import write_gaze, write_segment
    from ..demos.segment import read_card

    if count < 1:
        raise ConfigError("-n must be at least 1")
    if seed is None:
        card = read_card(models_dir() / ("tinytracker_int8.tflite" if task == "gaze" else "qsegment_int8.tflite"))
        seed = int(card.get("trained_on", {}).get("heldout_seed", 10_000))
    progress, update = progress_bar(f"{task} samples")
    t = time.perf_counter()
    with progress:
        size = size or (112 if task == "gaze" else 96)
        path = (write_gaze if task == "gaze" else write_segment)(Path(out_dir), count, seed, size=size, progress=update)
    click.echo(f"wrote {count} synthetic {task} samples (seed {seed}) to {path} in {time.perf_counter() - t:.1f} s")


def register(group: click.Group) -> None:
    for cmd in (gaze, segment, eval_cmd, datasets):
        group.add_command(cmd)
