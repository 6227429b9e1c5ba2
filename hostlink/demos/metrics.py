"""Task metrics in numpy: vessel segmentation (accuracy, ROC-AUC, Dice, sensitivity, specificity) and
gaze (Euclidean error in cm).

Both accumulate over a whole dataset, a batch at a time, and can be saved to and restored from
JSON, so a resumed evaluation reports exactly what an uninterrupted one would. ROC-AUC is the
Mann-Whitney rank statistic with tied scores sharing their mean rank. It is computed from the
count of positives and negatives at each distinct score, and an INT8 model's output takes at
most 256 distinct values, so the counts stay small however many pixels are scored.
"""
from __future__ import annotations

import numpy as np


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels``, by the rank statistic (ties averaged)."""
    acc = SegmentationMetrics()
    acc.add_scores(np.asarray(scores).ravel(), np.asarray(labels).ravel().astype(bool))
    return acc.roc_auc()


def _auc_from_counts(values: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    """AUC from per-distinct-score counts, ``values`` ascending."""
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    count = pos + neg
    # 1-based mean rank of each tie group: ranks before it, plus the middle of the group.
    mean_rank = np.cumsum(count) - count + (count + 1) / 2.0
    rank_sum = float(np.sum(mean_rank * pos))
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (float(n_pos) * float(n_neg))


class SegmentationMetrics:
    """Pixel metrics over every image added: confusion counts at ``threshold`` and score counts for AUC."""

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold
        self.tp = self.fp = self.tn = self.fn = 0
        self._values = np.zeros(0, np.float64)
        self._pos = np.zeros(0, np.int64)
        self._neg = np.zeros(0, np.int64)

    def add(self, prob: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> dict:
        """Score one image (``mask``: the pixels that count, e.g. the fundus field of view); returns its own metrics."""
        prob = np.asarray(prob, np.float64)
        truth = np.asarray(truth).astype(bool)
        if prob.shape != truth.shape:
            raise ValueError(f"prediction {prob.shape} and label {truth.shape} differ in shape")
        if mask is not None:
            keep = np.asarray(mask).astype(bool)
            prob, truth = prob[keep], truth[keep]
        prob, truth = prob.ravel(), truth.ravel()
        pred = prob >= self.threshold
        c = dict(tp=int(np.sum(pred & truth)), fp=int(np.sum(pred & ~truth)),
                 tn=int(np.sum(~pred & ~truth)), fn=int(np.sum(~pred & truth)))
        self.tp += c["tp"]
        self.fp += c["fp"]
        self.tn += c["tn"]
        self.fn += c["fn"]
        self.add_scores(prob, truth)
        one = SegmentationMetrics(self.threshold)
        one.tp, one.fp, one.tn, one.fn = c["tp"], c["fp"], c["tn"], c["fn"]
        one.add_scores(prob, truth)
        return one.summary()

    def add_scores(self, scores: np.ndarray, labels: np.ndarray) -> None:
        values, inv = np.unique(np.asarray(scores, np.float64), return_inverse=True)
        pos = np.bincount(inv, weights=labels.astype(np.float64), minlength=len(values)).astype(np.int64)
        neg = np.bincount(inv, minlength=len(values)).astype(np.int64) - pos
        self._merge(values, pos, neg)

    def _merge(self, values, pos, neg) -> None:
        allv = np.concatenate([self._values, values])
        u, inv = np.unique(allv, return_inverse=True)
        self._pos = np.bincount(inv, weights=np.concatenate([self._pos, pos]), minlength=len(u)).astype(np.int64)
        self._neg = np.bincount(inv, weights=np.concatenate([self._neg, neg]), minlength=len(u)).astype(np.int64)
        self._values = u

    def roc_auc(self) -> float:
        return _auc_from_counts(self._values, self._pos, self._neg)

    def summary(self) -> dict:
        tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
        div = lambda a, b: float(a) / b if b else float("nan")  # noqa: E731
        return dict(pixels=tp + fp + tn + fn, accuracy=div(tp + tn, tp + fp + tn + fn), roc_auc=self.roc_auc(),
                    dice=div(2 * tp, 2 * tp + fp + fn), sensitivity=div(tp, tp + fn), specificity=div(tn, tn + fp),
                    threshold=self.threshold)

    def state(self) -> dict:
        return dict(threshold=self.threshold, tp=self.tp, fp=self.fp, tn=self.tn, fn=self.fn,
                    values=self._values.tolist(), pos=self._pos.tolist(), neg=self._neg.tolist())

    @classmethod
    def from_state(cls, d: dict) -> "SegmentationMetrics":
        m = cls(d["threshold"])
        m.tp, m.fp, m.tn, m.fn = d["tp"], d["fp"], d["tn"], d["fn"]
        m._values = np.array(d["values"], np.float64)
        m._pos = np.array(d["pos"], np.int64)
        m._neg = np.array(d["neg"], np.int64)
        return m


class GazeMetrics:
    """Euclidean gaze error in cm (GazeCapture's metric), with a predict-the-mean baseline."""

    def __init__(self):
        self.errors: list[float] = []
        self.targets: list[list[float]] = []
        self.preds: list[list[float]] = []

    def add(self, pred_cm, target_cm) -> float:
        p = np.asarray(pred_cm, np.float64).reshape(2)
        t = np.asarray(target_cm, np.float64).reshape(2)
        err = float(np.linalg.norm(p - t))
        self.errors.append(err)
        self.targets.append(t.tolist())
        self.preds.append(p.tolist())
        return err

    def summary(self) -> dict:
        if not self.errors:
            return dict(samples=0)
        e = np.array(self.errors)
        t = np.array(self.targets)
        p = np.array(self.preds)
        baseline = float(np.mean(np.linalg.norm(t - t.mean(0), axis=1)))
        corr = [float(np.corrcoef(p[:, i], t[:, i])[0, 1]) if len(e) > 2 and np.std(p[:, i]) > 0 else float("nan")
                for i in range(2)]
        return dict(samples=len(e), mean_error_cm=float(e.mean()), median_error_cm=float(np.median(e)),
                    mae_x_cm=float(np.mean(np.abs(p[:, 0] - t[:, 0]))), mae_y_cm=float(np.mean(np.abs(p[:, 1] - t[:, 1]))),
                    corr_x=corr[0], corr_y=corr[1], predict_mean_baseline_cm=baseline)

    def state(self) -> dict:
        return dict(errors=self.errors, targets=self.targets, preds=self.preds)

    @classmethod
    def from_state(cls, d: dict) -> "GazeMetrics":
        m = cls()
        m.errors, m.targets, m.preds = list(d["errors"]), list(d["targets"]), list(d["preds"])
        return m
