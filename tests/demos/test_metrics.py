"""Segmentation and gaze metrics against definitions computed the slow, obvious way."""
import json

import numpy as np
import pytest

from hostlink.demos.metrics import GazeMetrics, SegmentationMetrics, roc_auc


def _auc_pairs(scores, labels):
    p, n = scores[labels], scores[~labels]
    return (np.sum(p[:, None] > n[None, :]) + 0.5 * np.sum(p[:, None] == n[None, :])) / (len(p) * len(n))


@pytest.mark.parametrize("seed", range(4))
def test_auc_is_the_pairwise_probability_with_ties_counted_half(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(400) < 0.3
    scores = np.round(rng.random(400) + 0.4 * labels, 1)  # coarse scores: many ties
    assert roc_auc(scores, labels) == pytest.approx(_auc_pairs(scores, labels), abs=1e-12)


def test_auc_extremes_and_undefined():
    labels = np.array([0, 0, 1, 1], bool)
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
    assert roc_auc(np.full(4, 0.5), labels) == 0.5
    assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([1, 1], bool)))


def test_confusion_metrics_on_a_hand_counted_example():
    prob = np.array([[0.9, 0.6, 0.4], [0.2, 0.7, 0.1]])
    truth = np.array([[1, 0, 1], [0, 1, 0]], bool)
    m = SegmentationMetrics(0.5)
    one = m.add(prob, truth)
    # predicted: 1 1 0 / 0 1 0 -> tp 2 (0.9, 0.7), fp 1 (0.6), fn 1 (0.4), tn 2
    assert (m.tp, m.fp, m.fn, m.tn) == (2, 1, 1, 2)
    assert one["accuracy"] == pytest.approx(4 / 6)
    assert one["dice"] == pytest.approx(4 / 6)
    assert one["sensitivity"] == pytest.approx(2 / 3)
    assert one["specificity"] == pytest.approx(2 / 3)
    assert one["roc_auc"] == pytest.approx(_auc_pairs(prob.ravel(), truth.ravel()))


def test_mask_limits_the_scored_pixels():
    prob = np.array([[0.9, 0.9], [0.1, 0.1]])
    truth = np.array([[1, 0], [0, 0]], bool)
    m = SegmentationMetrics()
    m.add(prob, truth, mask=np.array([[1, 0], [1, 1]], bool))
    assert m.summary()["pixels"] == 3 and m.fp == 0


def test_accumulating_images_equals_scoring_them_together_and_survives_json():
    rng = np.random.default_rng(5)
    probs = np.round(rng.random((3, 12, 12)), 2)
    truths = rng.random((3, 12, 12)) < probs
    a = SegmentationMetrics()
    for p, t in zip(probs, truths):
        a.add(p, t)
        a = SegmentationMetrics.from_state(json.loads(json.dumps(a.state())))  # as a resumed eval does
    b = SegmentationMetrics()
    b.add(probs.reshape(36, 12), truths.reshape(36, 12))
    assert a.summary() == pytest.approx(b.summary())


def test_gaze_error_and_baseline():
    g = GazeMetrics()
    assert g.add((3, 4), (0, 0)) == 5.0
    g.add((0, 0), (0, 0))
    s = g.summary()
    assert s["mean_error_cm"] == 2.5 and s["median_error_cm"] == 2.5 and s["samples"] == 2
    assert s["predict_mean_baseline_cm"] == 0.0
    assert GazeMetrics.from_state(json.loads(json.dumps(g.state()))).summary()["mean_error_cm"] == 2.5
