"""`hostlink eval` and `hostlink datasets make-synthetic`: bit-exact checks, metrics, resuming."""
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from hostlink.cli import main
from hostlink.demos.datasets import open_dataset
from hostlink.demos.evaluate import Evaluator, OutputMismatch, check_bit_exact
from hostlink.errors import ConfigError


def _cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def gaze_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "gaze"
    res = _cli("datasets", "make-synthetic", "--task", "gaze", "--out", str(out), "-n", "7", "--seed", "4242")
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture
def segment_data(tmp_path):
    rng = np.random.default_rng(2)
    root = tmp_path / "seg"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(5):
        cv2.imwrite(str(root / "images" / f"{i:06d}.png"), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
        cv2.imwrite(str(root / "labels" / f"{i:06d}.png"), (rng.random((16, 16)) < 0.3).astype(np.uint8) * 255)
    (root / "dataset.json").write_text(json.dumps(dict(task="segment")))
    return root


def test_make_synthetic_writes_a_readable_gaze_set(gaze_data):
    ds = open_dataset(gaze_data)
    assert ds.task == "gaze" and len(ds) == 7
    s = next(iter(ds.samples(3)))
    assert s.id == "000003" and s.face.shape == (112, 112, 3) and len(s.box) == 4 and len(s.target_cm) == 2


def test_gaze_eval_is_bit_exact_and_resumes_where_it_stopped(gaze_data, tmp_path):
    out = tmp_path / "run"
    res = _cli("eval", "--board", "emu:imx500", "--data", str(gaze_data), "--out", str(out), "--limit", "3", "--json")
    assert res.exit_code == 0, res.output
    first = json.loads(res.stdout)
    assert first["samples"] == 3 and not first["complete"]
    assert json.loads((out / "state.json").read_text())["done"] == 3

    res = _cli("eval", "--board", "emu:imx500", "--data", str(gaze_data), "--out", str(out))
    assert res.exit_code == 2 and "--resume" in res.output  # a run is there: never silently restart it

    res = _cli("eval", "--board", "emu:imx500", "--data", str(gaze_data), "--out", str(out), "--resume", "--json")
    assert res.exit_code == 0, res.output
    done = json.loads(res.stdout)
    assert done["complete"] and done["samples"] == 7
    assert done["bit_exact"] == {"checked": 7, "mismatched": 0}
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"{i:06d}" for i in range(7)]
    assert all(r["bit_exact"] for r in rows)
    errors = [r["error_cm"] for r in rows]
    assert done["metrics"]["mean_error_cm"] == pytest.approx(float(np.mean(errors)), abs=1e-3)


def test_resume_drops_lines_written_after_the_last_checkpoint(gaze_data, tmp_path):
    import hostlink

    out = tmp_path / "run"
    with hostlink.connect("emu:imx500") as dev:
        ev = Evaluator(dev, open_dataset(gaze_data), out, checkpoint=100)
        ev.run(limit=2)
    with open(out / "samples.jsonl", "a") as f:
        f.write('{"id": "stray"}\n')  # a line the state never counted (a crash between checkpoints)
    with hostlink.connect("emu:imx500") as dev:
        ev = Evaluator(dev, open_dataset(gaze_data), out, resume=True)
        ev.run()
    ids = [json.loads(line)["id"] for line in (out / "samples.jsonl").read_text().splitlines()]
    assert ids == [f"{i:06d}" for i in range(7)]


def test_segment_eval_checks_every_tile(segment_data, tiny_segmenter, tmp_path):
    res = _cli("eval", "--board", "emu:imx500", "--data", str(segment_data), "--model", str(tiny_segmenter),
               "--out", str(tmp_path / "run"), "--json")
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["task"] == "segment" and s["samples"] == 5
    assert s["bit_exact"] == {"checked": 5, "mismatched": 0}
    assert s["metrics"]["pixels"] == 5 * 16 * 16


def test_a_board_that_disagrees_with_the_reference_is_reported(segment_data, tiny_segmenter, tmp_path):
    import hostlink

    class OffByOne:
        """The reference run with its output nudged by one quantum: what a diverging kernel looks like."""

        def __init__(self, inner):
            self.inner = inner

        def run(self, inputs):
            outs = self.inner.run(inputs)
            return [o + np.float32(1 / 256) for o in outs]

    with hostlink.connect("emu:imx500") as dev:
        ev = Evaluator(dev, open_dataset(segment_data), tmp_path / "run", model=tiny_segmenter)
        ev.reference = OffByOne(ev.reference)
        state = ev.run()
    assert len(state.mismatches) == 5 and state.mismatches[0]["max_abs_diff"] == pytest.approx(1 / 256)
    with pytest.raises(OutputMismatch, match="differ from the host reference"):
        check_bit_exact(ev.summary(), state)


def test_resume_refuses_another_model(segment_data, tiny_segmenter, tmp_path):
    import hostlink
    from hostlink.bundled import bundled_model

    with hostlink.connect("emu:imx500") as dev:
        Evaluator(dev, open_dataset(segment_data), tmp_path / "run", model=tiny_segmenter).run(limit=1)
        with pytest.raises(ConfigError, match="model_sha256"):
            Evaluator(dev, open_dataset(segment_data), tmp_path / "run", resume=True,
                      model=bundled_model("tinytracker_int8.tflite"))


def test_unknown_folders_are_explained(tmp_path):
    with pytest.raises(ConfigError, match="not a dataset"):
        open_dataset(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        open_dataset(tmp_path / "nope")
