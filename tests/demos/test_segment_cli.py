"""`hostlink segment`: overlays, probability maps and metrics through the emulated IMX500.

The plumbing tests use a tiny untrained segmentation-shaped model; the accuracy test uses the
bundled Q-Segment model on the synthetic fundus generator it was trained on.
"""
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from hostlink.cli import main
from hostlink.demos.segment import SegmentRunner, _starts, find_label, list_images


def _segment(*args):
    return CliRunner().invoke(main, ["segment", "--board", "emu:imx500", *args], catch_exceptions=False)


@pytest.fixture
def image_dir(tmp_path):
    rng = np.random.default_rng(0)
    img_dir, lab_dir = tmp_path / "images", tmp_path / "labels"
    img_dir.mkdir()
    lab_dir.mkdir()
    for name, size in (("a", (40, 52)), ("b", (16, 16))):
        cv2.imwrite(str(img_dir / f"{name}.png"), rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        cv2.imwrite(str(lab_dir / f"{name}_1stHO.png"), (rng.random(size) < 0.2).astype(np.uint8) * 255)
    return img_dir, lab_dir


def test_overlays_probabilities_and_metrics_are_written(image_dir, tiny_segmenter, tmp_path):
    img_dir, lab_dir = image_dir
    out = tmp_path / "out"
    res = _segment(str(img_dir), "--labels", str(lab_dir), "--out", str(out), "--model", str(tiny_segmenter), "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [r["tiles"] for r in doc["images"]] == [1, 1]
    for name, shape, grow in (("a", (40, 52), 7), ("b", (16, 16), 24)):
        assert cv2.imread(str(out / f"{name}_overlay.png")).shape[:2] == (shape[0] * grow, shape[1] * grow)
        assert cv2.imread(str(out / f"{name}_prob.png"), cv2.IMREAD_GRAYSCALE).shape == shape
    overall = doc["overall"]
    assert overall["pixels"] == 40 * 52 + 16 * 16
    for k in ("accuracy", "roc_auc", "dice", "sensitivity", "specificity"):
        assert 0.0 <= overall[k] <= 1.0
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["overall"]["pixels"] == overall["pixels"]


def test_tiling_covers_the_image_and_runs_one_capture_per_tile(tiny_segmenter, tmp_path):
    import hostlink

    with hostlink.connect("emu:imx500") as dev:
        r = SegmentRunner(dev, tiny_segmenter, scale=40)
        res = r.predict(np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    assert res.prob.shape == (30, 40)
    assert len(res.captures) == len(_starts(30, 16, 12)) * len(_starts(40, 16, 12)) == 9
    assert np.all((res.prob >= 0) & (res.prob <= 1))


def test_starts_cover_every_pixel():
    for length in (16, 17, 40, 95, 96, 200):
        starts = _starts(length, 16, 12)
        covered = np.zeros(length, bool)
        for s in starts:
            covered[s:s + 16] = True
        assert covered.all() and starts[-1] + 16 == max(16, length)


def test_label_matching_and_listing(image_dir):
    img_dir, lab_dir = image_dir
    assert find_label(lab_dir, img_dir / "a.png").name == "a_1stHO.png"
    assert find_label(lab_dir, img_dir / "zzz.png") is None
    (img_dir / "a_1stHO.png").write_bytes((lab_dir / "a_1stHO.png").read_bytes())  # CHASE keeps masks beside images
    assert [p.name for p in list_images([img_dir])] == ["a.png", "b.png"]


def test_nothing_to_segment_is_explained():
    res = CliRunner().invoke(main, ["segment", "--board", "emu:imx500"])
    assert res.exit_code == 2 and "nothing to segment" in res.output


def test_masks_overlap_the_synthetic_vessels(tmp_path):
    """The bundled model on synthetic fundus images it never saw: the mask must find the vessels."""
    from hostlink.bundled import models_dir
    from hostlink.demos.datasets import write_segment

    if not (models_dir() / "qsegment_int8.tflite").exists():
        pytest.fail("the bundled qsegment_int8.tflite is missing: run `make models`")
    data = write_segment(tmp_path / "fundus", 4, seed=987_654)
    res = _segment(str(data / "images"), "--labels", str(data / "labels"), "--out", str(tmp_path / "out"), "--json")
    assert res.exit_code == 0, res.output
    overall = json.loads(res.stdout)["overall"]
    # The card's held-out figures are AUC 0.99, Dice 0.91: these bars leave room for retraining.
    assert overall["roc_auc"] > 0.9, overall
    assert overall["dice"] > 0.7, overall
    assert overall["sensitivity"] > 0.6 and overall["specificity"] > 0.95, overall
