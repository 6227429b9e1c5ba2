"""Fit the per-layer cost model to hostlink/data/calibration/measurements.csv and print every row.

    python tools/calibrate.py            # fit, print, write hostlink/data/calibration/fitted.json
    python tools/calibrate.py --check    # fit and print; fail if fitted.json differs

For each row: id, board, runtime, model, predicted and measured ms, the in-sample error and the
leave-one-out error (the fit redone without the row and its replicates, then asked to predict
it). Then the median and maximum absolute leave-one-out error per (core, runtime) and overall,
and the mean power of each board and runtime where MLPerf Tiny energy results exist.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hostlink.models import cost_fit as cf  # noqa: E402

TABLE = ROOT / "hostlink/data/calibration/measurements.csv"
FITTED = ROOT / "hostlink/data/calibration/fitted.json"


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def build(table: Path = TABLE) -> tuple[dict, list[str]]:
    """Fit, leave-one-out, and return fitted.json's document and the printed lines."""
    rows = cf.read_table(table, ROOT)
    excluded = cf.exclusions(rows)
    live = [r for r in rows if r.id not in excluded]
    full = cf.fit(live)
    pred = dict(zip([r.id for r in live], full.predict_cycles(live)))
    loo = cf.leave_one_out(live, full)
    lines: list[str] = []
    w = max(len(r.id) for r in rows)
    lines.append(f"{'id':<{w}}  {'board':<24} {'runtime':<20} {'model':<30} "
                 f"{'pred ms':>9} {'meas ms':>9} {'in-sample':>9} {'LOO':>8}")
    errs: dict[tuple, list[float]] = {}
    per_row: dict[str, dict] = {}
    for r in rows:
        model = Path(r.model).name
        if r.id in excluded:
            lines.append(f"{r.id:<{w}}  {r.board[:24]:<24} {r.runtime[:20]:<20} {model[:30]:<30} "
                         f"{'':>9} {r.latency_ms:9.3f} excluded: {excluded[r.id]}")
            continue
        p_ms = pred[r.id] / (r.clock_mhz * 1e3)
        l_ms = loo[r.id] / (r.clock_mhz * 1e3)
        e_in, e_loo = p_ms / r.latency_ms - 1, l_ms / r.latency_ms - 1
        errs.setdefault(r.pair, []).append(abs(e_loo))
        per_row[r.id] = dict(pred_ms=round(p_ms, 5), meas_ms=r.latency_ms, loo_ms=round(l_ms, 5))
        lines.append(f"{r.id:<{w}}  {r.board[:24]:<24} {r.runtime[:20]:<20} {model[:30]:<30} "
                     f"{p_ms:9.3f} {r.latency_ms:9.3f} {_pct(e_in):>9} {_pct(e_loo):>8}")
    lines.append("")
    lines.append(f"{'core':<16} {'runtime':<22} {'rows':>4} {'median |LOO|':>13} {'max |LOO|':>10}")
    for pair in sorted(errs):
        e = errs[pair]
        lines.append(f"{pair[0]:<16} {pair[1]:<22} {len(e):>4} {100 * statistics.median(e):12.1f}% "
                     f"{100 * max(e):9.1f}%")
    allerr = [x for e in errs.values() for x in e]
    lines.append(f"overall: {len(allerr)} rows over {len(errs)} (core, runtime) pairs, "
                 f"{len(excluded)} excluded; median |LOO| {100 * statistics.median(allerr):.1f}%, "
                 f"max |LOO| {100 * max(allerr):.1f}%, rows above 40%: "
                 f"{sum(x > 0.40 for x in allerr)}")

    power = _power(rows)
    lines.append("")
    lines.append("mean power during inference (energy / latency, MLPerf Tiny energy mode):")
    for p in power:
        lines.append(f"  {p['board']:<28} {p['runtime']:<20} {p['mean_mw']:7.1f} mW  "
                     f"spread {100 * p['rel_spread']:4.1f}% over {p['rows']} benchmarks")
    derived, dlines = _derived(full, live, errs)
    lines.append("")
    lines.extend(dlines)
    doc = _document(full, live, errs, excluded, power, per_row)
    doc["pairs"].extend(derived)
    return doc, lines


#: Cores the emulated boards and the calibration table share; a runtime measured on some of them
#: is carried to the others by the cycle ratio between cores that the other runtimes show.
TRANSFER_CORES = ("cortex-m4f", "cortex-m33", "cortex-m7")


def _derived(full: cf.Fit, live, errs) -> tuple[list[dict], list[str]]:
    """(core, runtime) pairs with no measurement, carried over from a measured core of the same
    runtime. Its shape is the runtime's; its scale is the source core's times the median cycle
    ratio target/source over the other runtimes measured on both. The error is measured: for each
    runtime measured on both cores, predict the target-core rows from the source core and the
    other runtimes' ratio, and compare with the measurement."""
    scale = {p: math.exp(full.log_scale[full.pairs.index(p)]) for p in full.pairs}
    runtimes = sorted({p[1] for p in full.pairs})
    out, lines = [], ["carried over to cores a runtime was not measured on (cycle ratio between cores):"]
    for rt in runtimes:
        have = [c for c in TRANSFER_CORES if (c, rt) in scale]
        for target in TRANSFER_CORES:
            if target in have or not have:
                continue
            best = None
            for src in have:
                both = [r for r in runtimes if r != rt and (src, r) in scale and (target, r) in scale]
                if len(both) < 3:
                    continue
                ratios = {r: scale[(target, r)] / scale[(src, r)] for r in both}
                errors = []
                for r in both:
                    ratio = statistics.median([v for k, v in ratios.items() if k != r])
                    rows = [x for x in live if x.pair == (target, r)]
                    src_fit = cf.Fit(full.pairs, full.runtimes, full.log_scale.copy(),
                                     full.log_global, full.log_dev, full.boards, full.log_board)
                    src_fit.log_scale[full.pairs.index((target, r))] = math.log(scale[(src, r)] * ratio)
                    for x, c in zip(rows, src_fit.predict_cycles(rows)):
                        errors.append(abs(c / x.cycles - 1))
                cand = (statistics.median(errors), max(errors), src, statistics.median(ratios.values()),
                        len(both), len(errors))
                if best is None or cand[0] < best[0]:
                    best = cand
            if best is None:
                continue
            med, mx, src, ratio, n_rt, n_rows = best
            base = next(p for p in full.pairs if p == (src, rt))
            # Its own error: the transfer error on top of the source pair's leave-one-out error.
            med_e = statistics.median(errs[base]) + med
            max_e = max(errs[base]) + mx
            s = scale[base] * ratio
            rel = dict(zip(cf.TERMS, _pair_shape(full, live, (target, rt))))
            out.append(_pair_doc(target, rt, s, rel, rows=0, loo=(med_e, max_e),
                                 clock=[], derived_from=dict(core=src, cycle_ratio=round(ratio, 4),
                                                             runtimes=n_rt, rows=n_rows)))
            lines.append(f"  {target:<11} {rt:<20} from {src:<11} x {ratio:.3f} (median over {n_rt} "
                         f"runtimes); transfer error median {100 * med:.1f}%, max {100 * mx:.1f}% "
                         f"over {n_rows} rows; with the source's LOO: {100 * med_e:.1f}% / {100 * max_e:.1f}%")
    return out, lines


def _pair_shape(full: cf.Fit, live, pair) -> np.ndarray:
    """A pair's relative costs: its runtime's, with the mean memory-system deviation of the
    boards it ran on (of every measured board with that core, for a carried-over pair)."""
    mems = sorted({r.memory for r in live if r.pair == pair}) or \
        sorted({r.memory for r in live if r.core == pair[0]})
    k = np.mean([full.log_board[full.boards.index(m)] for m in mems], axis=0) if mems else 0.0
    return full.shape(pair[1]) * np.exp(k)


def _pair_doc(core, runtime, scale, rel, rows, loo, clock, derived_from=None) -> dict:
    cpw = {"pointwise": scale}
    for c in ("conv", "shallow_conv", "depthwise", "fc"):
        cpw[c] = scale * rel[c]
    for c in ("elementwise", "pooling", "movement", "other"):
        cpw[c] = scale * rel["element"]
    doc = dict(core=core, runtime=runtime, rows=rows, clock_mhz=clock,
               cycles_per_work={k: round(v, 6) for k, v in cpw.items()},
               cycles_per_output=round(scale * rel["output"], 6),
               layer_overhead_cycles=0.0,
               net_overhead_cycles=round(scale * rel["net"], 3),
               loo_median_abs_error=round(loo[0], 4),
               loo_max_abs_error=round(loo[1], 4))
    if derived_from:
        doc["derived_from"] = derived_from
    return doc


def _power(rows: list[cf.Row]) -> list[dict]:
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        if r.energy_uj is None or r.benchmark not in ("vww", "ic", "kws", "ad") or r.reason:
            continue
        sub = r.id.split("-")[1]
        groups.setdefault((r.board, r.core, r.runtime, sub), []).append(r.energy_uj / r.latency_ms)
    out = []
    for (board, core, runtime, sub), mw in sorted(groups.items()):
        mean = float(np.mean(mw))
        out.append(dict(board=board, core=core, runtime=runtime, submitter=sub, rows=len(mw),
                        mean_mw=round(mean, 2),
                        rel_spread=round(float(np.std(mw) / mean), 4) if len(mw) > 1 else 0.0))
    return out


def _document(full: cf.Fit, live, errs, excluded, power, per_row) -> dict:
    pairs = []
    for p in full.pairs:
        scale = math.exp(full.log_scale[full.pairs.index(p)])
        rel = dict(zip(cf.TERMS, _pair_shape(full, live, p)))
        e = errs[p]
        pairs.append(_pair_doc(p[0], p[1], scale, rel, rows=len(e),
                               loo=(statistics.median(e), max(e)),
                               clock=sorted({r.clock_mhz for r in live if r.pair == p})))
    allerr = [x for e in errs.values() for x in e]
    return dict(
        model=("cycles = net_overhead + sum over layers (work x cycles_per_work[op class] + "
               "output elements x cycles_per_output [dot-product layers only])"),
        note=("layer_overhead_cycles is 0: a per-layer term was fitted and came out at 0 cycles "
              "for every runtime, so the fit leaves it out (docs/calibration.md). A pair's relative "
              "costs are its runtime's times the mean deviation of the boards it was measured on "
              "(board_deviation)"),
        table="hostlink/data/calibration/measurements.csv",
        ridge=cf.RIDGE,
        ridge_board=cf.RIDGE_BOARD,
        ridge_version=cf.RIDGE_VERSION,
        families="hostlink/data/calibration/families.json",
        release_groups={k: list(v) for k, v in cf.RELEASE_GROUPS.items()},
        board_deviation={b: {t: round(float(v), 6) for t, v in zip(cf.TERMS, np.exp(full.log_board[i]))}
                         for i, b in enumerate(full.boards)},
        terms=list(cf.TERMS),
        global_relative_cost={t: round(float(v), 6) for t, v in zip(cf.TERMS, np.exp(full.log_global))},
        pairs=pairs,
        loo_overall=dict(rows=len(allerr), median_abs_error=round(statistics.median(allerr), 4),
                         max_abs_error=round(max(allerr), 4)),
        excluded=excluded,
        power=power,
        rows=per_row,
    )


def _same(a, b, rel: float = 1e-3) -> bool:
    """fitted.json equal to this fit up to floating-point noise (another BLAS, another CPU)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=rel, abs_tol=1e-6)
    return a == b


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="do not write fitted.json; exit 1 if it differs from this fit by more "
                         "than floating-point noise")
    args = ap.parse_args(argv)
    doc, lines = build()
    print("\n".join(lines))
    text = json.dumps(doc, indent=1, sort_keys=False) + "\n"
    if args.check:
        if not FITTED.exists() or not _same(json.loads(FITTED.read_text()), json.loads(text)):
            print(f"calibrate: {FITTED.relative_to(ROOT)} differs from this fit; "
                  "run `make calibrate` and commit it", file=sys.stderr)
            return 1
        return 0
    FITTED.write_text(text)
    print(f"wrote {FITTED.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
