"""Fit the per-layer cost model (hostlink.models.cost) to the calibration table, with
leave-one-out errors. ``tools/calibrate.py`` prints it; tests check it reproduces fitted.json.

The model, in core cycles, for a row of (core, runtime) pair p, runtime r and board b::

    cycles = s_p * ( W_pointwise + sum_c e_rbc * W_c + e_rb,output * outputs + e_rb,net )

W_c is the model's work in op class c (MACs of conv / shallow_conv / depthwise / fully connected;
elements of the elementwise, pooling, movement and other ops, which share one cost per element);
``outputs`` are the output elements of the dot-product layers. ``s_p`` is the pair's cycles per
pointwise MAC; e_rb are the costs relative to a pointwise MAC. Each
log e_rbc = g_c + D_Fc + v_rc - v_r,pw + k_bc: g is shared by all runtimes and boards; D_Fc is
the deviation of the runtime's family F (its kernels are the same code on every core it runs on);
k_bc is the board's deviation (its memory system at its clock: flash wait states and caches
decide how much a weight-streaming fully connected layer or a large-activation layer costs
against a pointwise MAC, whatever runtime runs on it).

Releases of one vendor's runtime (RUNTIME_FAMILIES: X-CUBE-AI 7.1 to 10.2, two Plumerai
releases, TF v2.3.1's TFLM and a 2024 TFLM, ...) are one family: on a core they share the
family's absolute cost per class, s_(core,F) * e_Fc, and each release deviates from it per class
by v_rc (v_r,pw moves its pointwise cost, so s_p = s_(core,F) * exp(v_r,pw)). A release that
rewrote its convolutions and kept its fully connected kernel is then predicted, for a network it
was not measured on, with its family's fully connected cost, not with its convolutions' speed-up.
A runtime with no sibling release is its own family (v = 0).

D, v and k are pulled towards 0 by ridge penalties (RIDGE, RIDGE_VERSION, RIDGE_BOARD), because
four benchmarks cannot separate seven terms of one runtime on their own. The relative MAC and
element costs also have a prior of 1 (log 0) with weight RIDGE; the two overheads have none.

The fit minimises sum(log(pred/measured)^2) + RIDGE * sum(D^2) + RIDGE_VERSION * sum(v^2)
+ RIDGE_BOARD * sum(k^2)
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
import json
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
#: Ridge weight on a release's deviations from its family's absolute costs.
RIDGE_VERSION = 0.01
#: Releases of one vendor's runtime, and published per-operator ratios between releases
#: (hostlink/data/calibration/families.json). The same kernel code is carried from release to
#: release, so a release that rewrote its convolutions keeps its predecessor's fully connected
#: kernel unless its own rows say otherwise (TF v2.3.1's TFLM and EdgeMark's 2024 TFLM on the
#: same board: VWW 1.56x apart, AD 1.13x). A runtime not listed is a family of its own.
FAMILIES_PATH = Path(__file__).resolve().parents[1] / "data/calibration/families.json"


def _load_families(path: Path = FAMILIES_PATH) -> tuple[dict[str, str], dict[tuple[str, str], float]]:
    doc = json.loads(path.read_text())
    fam: dict[str, str] = {}
    for name, rec in doc["families"].items():
        for rt in rec["members"]:
            if rt in fam:
                raise ValueError(f"{path.name}: runtime {rt} is in two families")
            fam[rt] = name
    ratios: dict[tuple[str, str], float] = {}
    for rec in doc["published_ratios"]:
        if rec["term"] not in TERMS or fam.get(rec["runtime"]) is None or \
                fam.get(rec["runtime"]) != fam.get(rec["against"]):
            raise ValueError(f"{path.name}: ratio {rec} names a term not in {TERMS} or two "
                             "runtimes of different families")
        # A speed-up s divides the release's absolute cost of the class by s.
        ratios[(rec["runtime"], rec["term"])] = -math.log(rec["speedup"])
    return fam, ratios


RUNTIME_FAMILIES, RELEASE_OFFSETS = _load_families()
#: Classes one kernel's code runs, so a release that rewrote it moved them together: in CMSIS-NN
#: (and the runtimes built like it) k x k, shallow and 1x1 convolutions share the im2col + GEMM
#: inner loop; depthwise and fully connected have kernels of their own. A release deviates from
#: its family by the group's shared deviation plus its own per class (both with ridge
#: RIDGE_VERSION), so a class a release was not measured on follows its group.
RELEASE_GROUPS = {"gemm": ("pointwise", "conv", "shallow_conv")}
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
    #: The fit's own parameters (families, releases), for starting a refit from this one.
    internal: dict | None = None

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


def family(runtime: str) -> str:
    """The runtime family a runtime is a release of (itself when it has no siblings here)."""
    return RUNTIME_FAMILIES.get(runtime, runtime)


def fit(rows: list[Row], start: Fit | None = None, iters: int = 2000) -> Fit:
    """Fit the model by Levenberg-Marquardt; ``start`` (a previous fit) only sets where the
    search begins. Internally a row's log cycles are::

        S[core, family] + log( W_pointwise * exp(v[r, pw])
                               + sum_c W_c * exp(g_c + D[family, c] + v[r, c] + k[board, c]) )

    S is the family's cycles per pointwise MAC on the core, D the family's shape (ridge RIDGE),
    v a release's absolute deviation per term (ridge RIDGE_VERSION; releases of a family with
    siblings only), k the board's (ridge RIDGE_BOARD). The returned Fit presents it per pair:
    scale S + v[pw], relative shape D + v[c] - v[pw]."""
    pairs = sorted({r.pair for r in rows})
    runtimes = sorted({r.runtime for r in rows})
    fams = sorted({family(rt) for rt in runtimes})
    members = {fa: sum(family(rt) == fa for rt in runtimes) for fa in fams}
    versions = [rt for rt in runtimes if members[family(rt)] > 1]
    groups = sorted({(r.core, family(r.runtime)) for r in rows})
    boards = sorted({r.memory for r in rows})
    nt, ng, nf, nv, nbo = len(TERMS), len(groups), len(fams), len(versions), len(boards)
    nvt = nt + 1                                   # a release's deviations: pointwise, then TERMS
    # ... then one shared deviation per group of classes that run one kernel's code.
    gmask = np.array([[c in grp for c in ('pointwise',) + TERMS] for grp in RELEASE_GROUPS.values()],
                     dtype=float).reshape(len(RELEASE_GROUPS), nvt)
    nvp = nvt + len(RELEASE_GROUPS)
    f = _features(rows)
    y = np.log([r.cycles for r in rows])
    gi = np.array([groups.index((r.core, family(r.runtime))) for r in rows])
    fi = np.array([fams.index(family(r.runtime)) for r in rows])
    vi = np.array([versions.index(r.runtime) if r.runtime in versions else -1 for r in rows])
    ci = np.array([boards.index(r.memory) for r in rows])
    o_g = ng
    o_d = o_g + nt
    o_v = o_d + nf * nt
    o_b = o_v + nv * nvp
    n = o_b + nbo * nt

    def unpack(theta):
        return (theta[:o_g], theta[o_g:o_d], theta[o_d:o_v].reshape(nf, nt),
                theta[o_v:o_b].reshape(nv, nvp), theta[o_b:].reshape(nbo, nt))

    if start is not None and start.internal is not None:
        st = start.internal
        theta = np.concatenate([
            [st["S"].get(gr, 0.0) for gr in groups], st["g"],
            np.concatenate([st["D"].get(fa, np.zeros(nt)) for fa in fams]),
            np.concatenate([st["v"].get(v, np.zeros(nvp)) for v in versions] or [np.zeros(0)]),
            np.concatenate([st["k"].get(b, np.zeros(nt)) for b in boards])])
    else:
        g0 = np.log([_START[t] for t in TERMS])
        inner = f[:, 0] + f[:, 1:] @ np.exp(g0)
        s0 = np.array([np.mean(y[gi == j] - np.log(inner[gi == j])) for j in range(ng)])
        theta = np.concatenate([s0, g0, np.zeros(nf * nt + nv * nvp + nbo * nt)])

    sq, sqv, sqc = math.sqrt(RIDGE), math.sqrt(RIDGE_VERSION), math.sqrt(RIDGE_BOARD)
    # Priors: every relative cost (not the overheads) starts from "costs what a pointwise MAC
    # costs" (log 0) with the same weight as a family's deviation; the overheads have none.
    prior = np.array([t not in NO_PRIOR for t in TERMS], dtype=float) * sq
    nrow = len(rows)
    ridx = np.arange(nrow)
    has_v = vi >= 0
    vrows = ridx[has_v]
    offset = np.zeros((nrow, nt))
    for (rt, term), o in RELEASE_OFFSETS.items():
        offset[[r.runtime == rt for r in rows], TERMS.index(term)] = o
    term_idx = np.arange(nt)[None, :]
    fam_cols = o_d + fi[:, None] * nt + term_idx
    ver_cols = o_v + vi[has_v][:, None] * nvp + 1 + term_idx
    board_cols = o_b + ci[:, None] * nt + term_idx
    base = np.zeros((nrow + nt + nf * nt + nv * nvp + nbo * nt, n))
    base[ridx, gi] = 1.0
    r0 = nrow
    base[r0:r0 + nt, o_g:o_d] = np.diag(prior)
    r0 += nt
    base[r0:r0 + nf * nt, o_d:o_v] = sq * np.eye(nf * nt)
    r0 += nf * nt
    base[r0:r0 + nv * nvp, o_v:o_b] = sqv * np.eye(nv * nvp)
    r0 += nv * nvp
    base[r0:, o_b:] = sqc * np.eye(nbo * nt)

    def residuals(theta):
        s, g, d, v, kc = unpack(theta)
        vr = np.zeros((nrow, nvt))
        vr[has_v] = v[vi[has_v], :nvt] + v[vi[has_v], nvt:] @ gmask
        e = np.exp(np.clip(g[None, :] + d[fi] + vr[:, 1:] + kc[ci] + offset, -60, 60))
        parts = f[:, 1:] * e
        pw = f[:, 0] * np.exp(vr[:, 0])
        inner = pw + parts.sum(axis=1)
        res = np.concatenate([s[gi] + np.log(inner) - y, prior * g, sq * d.ravel(),
                              sqv * v.ravel(), sqc * kc.ravel()])
        jac = base.copy()
        dterm = parts / inner[:, None]                       # d log inner / d log e
        jac[:nrow, o_g:o_d] = dterm
        jac[ridx[:, None], fam_cols] = dterm
        jac[vrows, o_v + vi[has_v] * nvp] = (pw / inner)[has_v]
        jac[vrows[:, None], ver_cols] = dterm[has_v]
        dall = np.concatenate([(pw / inner)[:, None], dterm], axis=1)[has_v]   # pw, then TERMS
        jac[vrows[:, None], o_v + vi[has_v][:, None] * nvp + nvt + np.arange(len(RELEASE_GROUPS))[None, :]] = \
            dall @ gmask.T
        jac[ridx[:, None], board_cols] = dterm
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
    s, g, d, v, kc = unpack(theta)
    # Per pair and runtime, as the emulator reads it: a pair's scale is its family's on the core
    # times the release's pointwise deviation; a runtime's relative shape is the family's with
    # the release's deviations, against its own pointwise MAC.
    zero = np.zeros(nvt)
    dev_of = {rt: (v[versions.index(rt), :nvt] + v[versions.index(rt), nvt:] @ gmask
                   if rt in versions else zero) for rt in runtimes}
    log_scale = np.array([s[groups.index((c, family(rt)))] + dev_of[rt][0] for c, rt in pairs])
    log_dev = np.array([d[fams.index(family(rt))] + dev_of[rt][1:] - dev_of[rt][0]
                        + np.array([RELEASE_OFFSETS.get((rt, t), 0.0) for t in TERMS])
                        for rt in runtimes])
    internal = dict(S=dict(zip(groups, s.copy())), g=g.copy(), D=dict(zip(fams, d.copy())),
                    v=dict(zip(versions, v.copy())), k=dict(zip(boards, kc.copy())))
    return Fit(pairs=pairs, runtimes=runtimes, log_scale=log_scale, log_global=g.copy(),
               log_dev=log_dev, boards=boards, log_board=kc.copy(), internal=internal)


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
