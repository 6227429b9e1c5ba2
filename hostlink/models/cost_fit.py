"""Fit the per-layer cost model (hostlink.models.cost) to the calibration table, with
leave-one-out errors. ``tools/calibrate.py`` prints it; tests check it reproduces fitted.json.

The model, in core cycles, for a row of (core, runtime) pair p, runtime r and board b::

    cycles = s_p * ( W_pointwise + sum_c e_rbc * W_c + e_rb,output * outputs + e_rb,net )

W_c is the model's work in op class c (MACs of conv / shallow_conv / depthwise / fully connected;
elements of the elementwise, pooling, movement and other ops, which share one cost per element);
``outputs`` are the output elements of the dot-product layers. ``s_p`` is the pair's cycles per
pointwise MAC; e_rb are the costs relative to a pointwise MAC. Each
log e_rbc = g_c + d_rc + k_bc: g is shared by all runtimes and boards; d_rc is the runtime's
deviation (its kernels are the same code on every core it runs on); k_bc is the board's
deviation (its memory system at its clock: flash wait states and caches decide how much a
weight-streaming fully connected layer or a large-activation layer costs against a pointwise
MAC, whatever runtime runs on it). d and k are pulled towards 0 by ridge penalties (RIDGE,
RIDGE_BOARD), because four benchmarks cannot separate seven terms of one runtime on their own.
The relative MAC and element costs also have a prior of 1 (log 0) with weight RIDGE; the two
overheads have none.

The fit minimises sum(log(pred/measured)^2) + RIDGE * sum(d^2) + RIDGE_BOARD * sum(k^2)
(+ the prior) by Levenberg-Marquardt on log-parameters. numpy is the only numerical library in
hostlink's dependencies, and the problem is small (a few hundred rows and parameters) so a dense
LM is enough; scipy would add a large dependency for one call.

Leave-one-out: for every fitted row, the fit is redone without the row and without its replicates
(rows of the same pair and benchmark: the same model on the same core and runtime measured again),
and the refitted model predicts the row. So a pair's error is how well the model predicts a
network the fit has not seen on that pair.
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cost import MAC_CLASSES, OP_CLASSES, class_work, layers

#: Shape terms, relative to one pointwise MAC, in parameter order.
TERMS = ("conv", "shallow_conv", "depthwise", "fc", "output", "element", "net")
#: Ridge weight on a runtime's deviations from the shared shape, and on a board's (its memory
#: system's) deviations; see the module docstring and docs/calibration.md for how they were chosen.
RIDGE = 0.01
RIDGE_BOARD = 1.0
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
    def memory(self) -> str:
        """The board's memory system (the chip, whatever the results folder calls it)."""
        return board_key(self.board)

    @property
    def cycles(self) -> float:
        return self.latency_ms * 1e-3 * self.clock_mhz * 1e6


_CHIPS = re.compile(r"(l4r5zi|h7a3zi|u575zi|u585i|f746ng|g0b1re|cy8cproto062|ra6m4|ra8d1|nrf5340|"
                    r"u385rg|u3c5zi|m467hj|xg24|apollo510)")


def board_key(board: str) -> str:
    """The chip a results folder's board name refers to (NUCLEO_L4R5ZI-zephyr, Nucleo-L4R5ZI and
    NUCLEO-L4R5ZI_X-CUBE-AI-7.3 are one board)."""
    name = re.sub(r"[^a-z0-9]", "", board.lower())
    m = _CHIPS.search(name)
    return m.group(1) if m else name


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
    boards: list[str] = field(default_factory=list)
    log_board: np.ndarray | None = None   # boards x terms: k

    def shape(self, runtime: str, board: str | None = None) -> np.ndarray:
        """Relative costs of a runtime, on ``board`` (a ``board_key``) where given; a board
        the fit has not seen gets the typical board's (deviation 0)."""
        i = self.runtimes.index(runtime)
        k = 0.0
        if board is not None and self.log_board is not None and board in self.boards:
            k = self.log_board[self.boards.index(board)]
        return np.exp(self.log_global + self.log_dev[i] + k)

    def predict_cycles(self, rows: list[Row]) -> np.ndarray:
        f = _features(rows)
        out = np.empty(len(rows))
        for k, r in enumerate(rows):
            e = self.shape(r.runtime, r.memory)
            out[k] = math.exp(self.log_scale[self.pairs.index(r.pair)]) * (f[k, 0] + f[k, 1:] @ e)
        return out


def fit(rows: list[Row], start: Fit | None = None, iters: int = 2000) -> Fit:
    pairs = sorted({r.pair for r in rows})
    runtimes = sorted({r.runtime for r in rows})
    boards = sorted({r.memory for r in rows})
    npair, nrt, nt, nbo = len(pairs), len(runtimes), len(TERMS), len(boards)
    f = _features(rows)
    y = np.log([r.cycles for r in rows])
    pi = np.array([pairs.index(r.pair) for r in rows])
    ri = np.array([runtimes.index(r.runtime) for r in rows])
    ci = np.array([boards.index(r.memory) for r in rows])
    o_g, o_d = npair, npair + nt
    o_b = o_d + nrt * nt

    def unpack(theta):
        return (theta[:o_g], theta[o_g:o_d], theta[o_d:o_b].reshape(nrt, nt),
                theta[o_b:].reshape(nbo, nt))

    if start is not None:
        def row_of(names, table, name):
            return table[names.index(name)] if name in names and table is not None \
                else np.zeros(nt)
        theta = np.concatenate([
            [start.log_scale[start.pairs.index(p)] if p in start.pairs else 0.0 for p in pairs],
            start.log_global,
            np.concatenate([row_of(start.runtimes, start.log_dev, rt) for rt in runtimes]),
            np.concatenate([row_of(start.boards, start.log_board, c) for c in boards])])
    else:
        g0 = np.log([_START[t] for t in TERMS])
        inner = f[:, 0] + f[:, 1:] @ np.exp(g0)
        s0 = np.zeros(npair)
        for p in range(npair):
            s0[p] = np.mean(y[pi == p] - np.log(inner[pi == p]))
        theta = np.concatenate([s0, g0, np.zeros(nrt * nt), np.zeros(nbo * nt)])

    sq, sqc = math.sqrt(RIDGE), math.sqrt(RIDGE_BOARD)
    # Priors: every relative cost (not the overheads) starts from "costs what a pointwise MAC
    # costs" (log 0) with the same weight as a runtime's deviation; the overheads have none.
    # A board's deviations have their own weight (RIDGE_BOARD): a correction on top of the
    # runtime's shape, kept small; docs/calibration.md gives the weights tried.
    prior = np.array([t not in NO_PRIOR for t in TERMS], dtype=float) * sq
    nres_rows = len(rows)
    rows_idx = np.arange(nres_rows)
    dev_cols = o_d + ri[:, None] * nt + np.arange(nt)[None, :]
    board_cols = o_b + ci[:, None] * nt + np.arange(nt)[None, :]
    base = np.zeros((nres_rows + nt + nrt * nt + nbo * nt, theta.size))
    base[rows_idx, pi] = 1.0
    base[nres_rows:nres_rows + nt, o_g:o_d] = np.diag(prior)
    base[nres_rows + nt:nres_rows + nt + nrt * nt, o_d:o_b] = sq * np.eye(nrt * nt)
    base[nres_rows + nt + nrt * nt:, o_b:] = sqc * np.eye(nbo * nt)

    def residuals(theta):
        s, g, d, kc = unpack(theta)
        e = np.exp(np.clip(g[None, :] + d[ri] + kc[ci], -60, 60))    # rows x terms
        parts = f[:, 1:] * e
        inner = f[:, 0] + parts.sum(axis=1)
        res = np.concatenate([s[pi] + np.log(inner) - y, prior * g, sq * d.ravel(),
                              sqc * kc.ravel()])
        jac = base.copy()
        dterm = parts / inner[:, None]                       # d log inner / d log e
        jac[:nres_rows, o_g:o_d] = dterm
        jac[rows_idx[:, None], dev_cols] = dterm
        jac[rows_idx[:, None], board_cols] = dterm
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
    s, g, d, kc = unpack(theta)
    return Fit(pairs=pairs, runtimes=runtimes, log_scale=s.copy(), log_global=g.copy(),
               log_dev=d.copy(), boards=boards, log_board=kc.copy())


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
