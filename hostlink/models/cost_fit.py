"""Fit the per-layer cost model (hostlink.models.cost) to the calibration table, with
leave-one-out errors. ``tools/calibrate.py`` prints it; tests check it reproduces fitted.json.

The model, in core cycles, for a row of (core, runtime) pair p and runtime r::

    cycles = s_p * ( W_pointwise + sum_c e_rc * W_c + e_r,output * outputs + e_r,net )

W_c is the model's work in op class c (MACs of conv / shallow_conv / depthwise / fully connected;
elements of the elementwise, pooling, movement and other ops, which share one cost per element);
``outputs`` are the output elements of the dot-product layers. ``s_p`` is the pair's cycles per
pointwise MAC; e_r are the runtime's costs relative to a pointwise MAC, the same for every core
the runtime was measured on. Each log e_rc = g_c + d_rc: g is shared by all runtimes and d_rc is
pulled towards 0 by a ridge penalty, because four benchmarks cannot separate seven terms of one
runtime on their own. The relative MAC and element costs also have a prior of 1 (log 0) with the
same weight; the two overheads have none.

The fit minimises sum(log(pred/measured)^2) + RIDGE * sum(d^2) by Levenberg-Marquardt on
log-parameters. numpy is the only numerical library in hostlink's dependencies, and the problem
is small (a few hundred rows and parameters) so a 40-line dense LM is enough; scipy would add a
large dependency for one call.

Leave-one-out: for every fitted row, the fit is redone without the row and without its replicates
(rows of the same pair and benchmark: the same model on the same core and runtime measured again),
and the refitted model predicts the row. So a pair's error is how well the model predicts a
network the fit has not seen on that pair.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cost import MAC_CLASSES, OP_CLASSES, class_work, layers

#: Shape terms, relative to one pointwise MAC, in parameter order.
TERMS = ("conv", "shallow_conv", "depthwise", "fc", "output", "element", "net")
RIDGE = 1.0
#: Terms with no prior on their shared value (the overheads: no neutral value to pull towards).
NO_PRIOR = ("output", "net")
#: Iterations the last fit() took (diagnostics).
LAST_ITERATIONS = 0
#: Where the search starts (not a prior, not a result): MACs of every class and elements cost
#: about a pointwise MAC, an output a few, an inference 20,000 pointwise-MAC-equivalents.
_START = {"conv": 1.0, "shallow_conv": 2.0, "depthwise": 1.5, "fc": 1.0, "output": 4.0, "element": 1.0,
          "net": 20000.0}


@dataclass
class Row:
    id: str
    board: str
    core: str
    runtime: str
    clock_mhz: float
    benchmark: str
    model: str
    macs: int
    latency_ms: float
    energy_uj: float | None
    reason: str
    source: str
    work: dict[str, float] = field(default_factory=dict)

    @property
    def pair(self) -> tuple[str, str]:
        return (self.core, self.runtime)

    @property
    def cycles(self) -> float:
        return self.latency_ms * 1e-3 * self.clock_mhz * 1e6


def read_table(path: Path, root: Path) -> list[Row]:
    rows = []
    cache: dict[str, dict] = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r["model"] not in cache:
                cache[r["model"]] = class_work(layers(root / r["model"]))
            rows.append(Row(
                id=r["id"], board=r["board"], core=r["core"], runtime=r["runtime"],
                clock_mhz=float(r["clock_mhz"]) if r["clock_mhz"] else float("nan"),
                benchmark=r["benchmark"], model=r["model"], macs=int(r["macs"]),
                latency_ms=float(r["latency_ms"]),
                energy_uj=float(r["energy_uj"]) if r["energy_uj"] else None,
                reason=r["reason"], source=r["source"], work=cache[r["model"]]))
    return rows


def exclusions(rows: list[Row]) -> dict[str, str]:
    """Why each row is left out of the fit: its own reason column, or the rules here."""
    out = {r.id: r.reason for r in rows if r.reason}
    live = [r for r in rows if r.id not in out]
    for r in live:
        if math.isnan(r.clock_mhz):
            out[r.id] = "no published clock: cycles cannot be computed"
    live = [r for r in rows if r.id not in out]
    by_pair: dict[tuple, set] = {}
    for r in live:
        by_pair.setdefault(r.pair, set()).add(r.benchmark)
    for r in live:
        if len(by_pair[r.pair]) < 2:
            out[r.id] = "only one benchmark on this (core, runtime): no leave-one-out possible"
    return out


def _features(rows: list[Row]) -> np.ndarray:
    """Per row: pointwise MACs and the work of each shape term."""
    f = np.zeros((len(rows), 1 + len(TERMS)))
    for i, r in enumerate(rows):
        w = r.work
        f[i, 0] = w["pointwise"]
        f[i, 1] = w["conv"]
        f[i, 2] = w["shallow_conv"]
        f[i, 3] = w["depthwise"]
        f[i, 4] = w["fc"]
        f[i, 5] = w["mac_outputs"]
        f[i, 6] = sum(w[c] for c in OP_CLASSES if c not in MAC_CLASSES)
        f[i, 7] = 1.0
    return f


@dataclass
class Fit:
    pairs: list[tuple[str, str]]
    runtimes: list[str]
    log_scale: np.ndarray        # per pair: log cycles per pointwise MAC
    log_global: np.ndarray       # per term: g
    log_dev: np.ndarray          # runtimes x terms: d

    def shape(self, runtime: str) -> np.ndarray:
        i = self.runtimes.index(runtime)
        return np.exp(self.log_global + self.log_dev[i])

    def predict_cycles(self, rows: list[Row]) -> np.ndarray:
        f = _features(rows)
        out = np.empty(len(rows))
        for k, r in enumerate(rows):
            e = self.shape(r.runtime)
            out[k] = math.exp(self.log_scale[self.pairs.index(r.pair)]) * (f[k, 0] + f[k, 1:] @ e)
        return out


def fit(rows: list[Row], start: Fit | None = None, iters: int = 2000) -> Fit:
    pairs = sorted({r.pair for r in rows})
    runtimes = sorted({r.runtime for r in rows})
    npair, nrt, nt = len(pairs), len(runtimes), len(TERMS)
    f = _features(rows)
    y = np.log([r.cycles for r in rows])
    pi = np.array([pairs.index(r.pair) for r in rows])
    ri = np.array([runtimes.index(r.runtime) for r in rows])

    def unpack(theta):
        return theta[:npair], theta[npair:npair + nt], theta[npair + nt:].reshape(nrt, nt)

    if start is not None:
        theta = np.concatenate([
            [start.log_scale[start.pairs.index(p)] if p in start.pairs else 0.0 for p in pairs],
            start.log_global,
            np.concatenate([start.log_dev[start.runtimes.index(rt)] if rt in start.runtimes
                            else np.zeros(nt) for rt in runtimes])])
    else:
        g0 = np.log([_START[t] for t in TERMS])
        inner = f[:, 0] + f[:, 1:] @ np.exp(g0)
        s0 = np.zeros(npair)
        for p in range(npair):
            s0[p] = np.mean(y[pi == p] - np.log(inner[pi == p]))
        theta = np.concatenate([s0, g0, np.zeros(nrt * nt)])

    sq = math.sqrt(RIDGE)
    # Priors: every relative cost (not the overheads) starts from "costs what a pointwise MAC
    # costs" (log 0) with the same weight as a runtime's deviation; the overheads have none.
    prior = np.array([t not in NO_PRIOR for t in TERMS], dtype=float) * sq
    nres_rows = len(rows)
    rows_idx = np.arange(nres_rows)
    dev_cols = npair + nt + ri[:, None] * nt + np.arange(nt)[None, :]
    base = np.zeros((nres_rows + nt + nrt * nt, theta.size))
    base[rows_idx, pi] = 1.0
    base[nres_rows:nres_rows + nt, npair:npair + nt] = np.diag(prior)
    base[nres_rows + nt:, npair + nt:] = sq * np.eye(nrt * nt)

    def residuals(theta):
        s, g, d = unpack(theta)
        e = np.exp(np.clip(g[None, :] + d[ri], -60, 60))    # rows x terms
        parts = f[:, 1:] * e
        inner = f[:, 0] + parts.sum(axis=1)
        res = np.concatenate([s[pi] + np.log(inner) - y, prior * g, sq * d.ravel()])
        jac = base.copy()
        dterm = parts / inner[:, None]                       # d log inner / d log e
        jac[:nres_rows, npair:npair + nt] = dterm
        jac[rows_idx[:, None], dev_cols] = dterm
        return res, jac

    lam = 1e-3
    res, jac = residuals(theta)
    cost = res @ res
    for _ in range(iters):
        jtj = jac.T @ jac
        step = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-12), -jac.T @ res)
        # At most a factor e^1 per parameter per step: a longer step can leap to a region where
        # a term vanishes (exp(-60)) and its gradient with it.
        step *= min(1.0, 1.0 / max(np.abs(step).max(), 1e-300))
        new = theta + step
        nres, njac = residuals(new)
        ncost = nres @ nres
        if ncost < cost:
            # Converged when a step no longer moves any log-parameter by 1e-4 (a relative
            # change of 0.01 % in every cost) or the objective by 1e-7.
            done = np.abs(step).max() < 1e-7 or cost - ncost < 1e-12 * cost
            theta, res, jac, cost = new, nres, njac, ncost
            lam = max(lam / 3, 1e-9)
            if done:
                break
        else:
            lam *= 4
            if lam > 1e9:
                break
    global LAST_ITERATIONS
    LAST_ITERATIONS = _ + 1
    s, g, d = unpack(theta)
    return Fit(pairs=pairs, runtimes=runtimes, log_scale=s.copy(), log_global=g.copy(),
               log_dev=d.copy())


def leave_one_out(rows: list[Row], full: Fit) -> dict[str, float]:
    """Predicted cycles of each row by a fit made without it and its replicates."""
    out: dict[str, float] = {}
    groups: dict[tuple, list[Row]] = {}
    for r in rows:
        groups.setdefault((r.pair, r.benchmark), []).append(r)
    for group in groups.values():
        held = {r.id for r in group}
        train = [r for r in rows if r.id not in held]
        f = fit(train, start=full)
        for r, c in zip(group, f.predict_cycles(group)):
            out[r.id] = float(c)
    return out
