"""Frame sources, sinks and the no-display fallback."""
import cv2
import numpy as np
import pytest

from hostlink.demos import video
from hostlink.errors import ConfigError


def test_no_display_means_headless_with_a_reason(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    said = []
    assert video.open_window("t", say=said.append) is None
    assert "no display" in said[0] and "running headless" in said[0]


def test_a_window_that_cannot_open_means_headless(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":12345")  # no X server there

    def broken(*a, **k):
        raise cv2.error("The function is not implemented")

    monkeypatch.setattr(video, "CvWindow", broken)
    monkeypatch.setattr(video, "TkWindow", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("couldn't connect to display")))
    said = []
    assert video.open_window("t", say=said.append) is None
    assert "cannot open a window" in said[0] and "couldn't connect" in said[0]


def test_sink_and_source_round_trip(tmp_path):
    path = tmp_path / "clip.avi"
    sink = video.VideoSink(path, 25.0)
    frames = [np.full((48, 64, 3), v, np.uint8) for v in (30, 120, 220)]
    for f in frames:
        sink.write(f)
    sink.close()
    src = video.FrameSource(str(path))
    got = []
    while (f := src.read()) is not None:
        got.append(f)
    src.close()
    assert len(got) == 3 and got[0].shape == (48, 64, 3)
    assert [int(round(g.mean())) for g in got] == pytest.approx([30, 120, 220], abs=3)


def test_mirror_flips_left_and_right(tmp_path):
    path = tmp_path / "clip.avi"
    f = np.zeros((48, 64, 3), np.uint8)
    f[:, :16] = 255
    sink = video.VideoSink(path, 25.0)
    sink.write(f)
    sink.close()
    with video.FrameSource(str(path), mirror=True) as src:
        g = src.read()
    assert g[:, -8:].mean() > 200 and g[:, :8].mean() < 50


def test_missing_video_is_explained(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        video.FrameSource(str(tmp_path / "none.mp4"))
