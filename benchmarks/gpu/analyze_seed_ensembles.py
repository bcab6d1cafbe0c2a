#!/usr/bin/env python3
"""Seed ensembles vs single seeds at the sensitivity-constrained point.

Reads the ``scores.json`` of ``seed_ensembles.py`` (numpy + scikit-learn only, plus
hemoclf's threshold rule). For each repeat present and each ensemble size
K' in (1, 3, 5, ...; and the largest seed count present) the probabilities
of the first K' seeds of every network are averaged; then for each outer
fold k:

* threshold = ``sensitivity_floor_threshold(inner_y, inner_p, 0.98)``, where
  ``inner_p`` pools, over the 9 other folds j, the pair(k, j) ensemble's
  scores on fold j (nothing of fold k reaches it);
* the refit ensemble of fold k predicts hemorrhage on fold k where
  ``proba >= threshold`` (the function's rule: "An image is called positive
  when its score is >= threshold").

Over the pooled 200 out-of-fold predictions of a repeat: ROC AUC of the
refit scores, tuned sensitivity, tuned specificity, false negatives, and the
"oracle" specificity at sensitivity >= 0.98 (the best specificity over
thresholds on the pooled refit test scores themselves: the same rule applied
to the test scores). Single-seed rows for every seed (seed 0, 1, 2, ...)
show the seed-to-seed noise.
"""

import argparse
import json
import os
import sys
from collections import defaultdict

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from hemoclf.model_selection import sensitivity_floor_threshold

N_FOLDS = 10

RULE_SOURCE = "hemoclf.model_selection"


def load(scores_path, data_path):
    records = json.load(open(scores_path))
    d = np.load(data_path)
    y = np.asarray(d["y"]).astype(int)
    groups = np.asarray(d["groups"])
    return records, y, groups


def outer_splits(y, groups, repeat):
    cv = StratifiedGroupKFold(N_FOLDS, shuffle=True, random_state=repeat)
    return [np.asarray(test) for _, test in cv.split(np.zeros(len(y)), y, groups)]


def index_records(records, y, groups):
    """{repeat: {"tests": fold test indices, "pair": {(a, b, seed): {fold:
    proba on that fold}}, "refit": {(k, seed): proba on fold k}}}, checking
    every record against the recomputed folds."""
    out = {}
    for r in sorted({rec["repeat"] for rec in records}):
        out[r] = {"tests": outer_splits(y, groups, r), "pair": {}, "refit": {}}
    for rec in records:
        rep = out[rec["repeat"]]
        tests = rep["tests"]
        idx = np.asarray(rec["index"])
        proba = np.asarray(rec["proba"], dtype=np.float64)
        if rec["kind"] == "refit":
            k = rec["fold"]
            if not np.array_equal(idx, tests[k]):
                sys.exit(f"record {rec['repeat']}/refit/{k} does not hold fold {k}")
            rep["refit"][(k, rec["seed"])] = proba
        else:
            a, b = rec["pair"]
            per = {}
            for f in (a, b):
                pos = {int(i): n for n, i in enumerate(idx)}
                if set(tests[f]) - set(pos):
                    sys.exit(f"record {rec['repeat']}/pair/{a},{b} misses fold {f}")
                per[f] = proba[[pos[int(i)] for i in tests[f]]]
            if len(idx) != len(tests[a]) + len(tests[b]):
                sys.exit(f"record {rec['repeat']}/pair/{a},{b}: wrong size")
            rep["pair"][(a, b, rec["seed"])] = per
    return out


def complete_seeds(rep):
    """Seeds for which all 45 pair and 10 refit networks of a repeat exist."""
    seeds = {s for *_, s in rep["pair"]} | {s for _, s in rep["refit"]}
    good = []
    for s in sorted(seeds):
        pairs = all((a, b, s) in rep["pair"] for a in range(N_FOLDS)
                    for b in range(a + 1, N_FOLDS))
        refits = all((k, s) in rep["refit"] for k in range(N_FOLDS))
        if pairs and refits:
            good.append(s)
    return good


def evaluate(rep, y, seeds, min_sensitivity):
    """Metrics of the ensemble of ``seeds`` (mean probability) in one repeat."""
    tests = rep["tests"]
    n = len(y)
    test_p = np.full(n, np.nan)
    pred = np.full(n, -1)
    thresholds, inner_sens, inner_spec = [], [], []
    for k in range(N_FOLDS):
        inner_y, inner_p = [], []
        for j in range(N_FOLDS):
            if j == k:
                continue
            a, b = min(j, k), max(j, k)
            p = np.mean([rep["pair"][(a, b, s)][j] for s in seeds], axis=0)
            inner_y.append(y[tests[j]])
            inner_p.append(p)
        inner_y, inner_p = np.concatenate(inner_y), np.concatenate(inner_p)
        thr = sensitivity_floor_threshold(inner_y, inner_p, min_sensitivity)
        thresholds.append(thr)
        inner_sens.append(np.mean(inner_p[inner_y == 1] >= thr))
        inner_spec.append(np.mean(inner_p[inner_y == 0] < thr))
        p = np.mean([rep["refit"][(k, s)] for s in seeds], axis=0)
        test_p[tests[k]] = p
        pred[tests[k]] = (p >= thr).astype(int)
    assert not np.isnan(test_p).any() and (pred >= 0).all()
    pos, neg = y == 1, y == 0
    oracle_thr = sensitivity_floor_threshold(y, test_p, min_sensitivity)
    return {
        "auc": roc_auc_score(y, test_p),
        "sens": float(np.mean(pred[pos] == 1)),
        "spec": float(np.mean(pred[neg] == 0)),
        "fn": int(np.sum(pred[pos] == 0)),
        "fp": int(np.sum(pred[neg] == 1)),
        "oracle_spec": float(np.mean(test_p[neg] < oracle_thr)),
        "oracle_sens": float(np.mean(test_p[pos] >= oracle_thr)),
        "thr_mean": float(np.mean(thresholds)),
        "thr_sd": float(np.std(thresholds)),
        "inner_spec": float(np.mean(inner_spec)),
        "ties_at_1": int(np.sum(test_p >= 1.0)),
    }


COLUMNS = [("auc", "AUC", "{:.3f}"), ("sens", "tuned sens", "{:.3f}"),
           ("spec", "tuned spec", "{:.3f}"), ("fn", "FN", "{:.2f}"),
           ("oracle_spec", "oracle spec", "{:.3f}"),
           ("thr_mean", "thr mean", "{:.3f}"), ("inner_spec", "inner spec", "{:.3f}")]


def row(label, m, sd=None, width=26):
    cells = []
    for key, _, fmt in COLUMNS:
        text = fmt.format(m[key])
        if sd is not None:
            text += f"±{fmt.format(sd[key]).lstrip('0') or '0'}"
        cells.append(f"{text:>{14 if sd is not None else 12}}")
    return f"{label:<{width}}" + "".join(cells)


def header(sd=False, width=26):
    w = 14 if sd else 12
    return f"{'':<{width}}" + "".join(f"{name:>{w}}" for _, name, _ in COLUMNS)


def sizes(n_seeds):
    ks = list(range(1, n_seeds + 1, 2))
    if n_seeds not in ks:
        ks.append(n_seeds)
    return ks


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scores", help="scores.json of seed_ensembles.py (or its folder)")
    p.add_argument("--data", default=os.path.join(here, "head_ct_default128.npz"))
    p.add_argument("--min-sensitivity", type=float, default=0.98)
    p.add_argument("--json", default=None, help="also write the numbers here")
    args = p.parse_args(argv)
    path = args.scores
    if os.path.isdir(path):
        path = os.path.join(path, "scores.json")
    records, y, groups = load(path, args.data)
    reps = index_records(records, y, groups)
    print(f"{len(records)} network records from {path}; threshold rule from "
          f"{RULE_SOURCE}; min sensitivity {args.min_sensitivity}")

    results = defaultdict(dict)   # label -> repeat -> metrics
    order = []
    used = {}
    for r, rep in reps.items():
        seeds = complete_seeds(rep)
        n_pair, n_refit = len(rep["pair"]), len(rep["refit"])
        if not seeds:
            print(f"repeat {r}: no seed complete ({n_pair} pair, {n_refit} refit "
                  "networks) - skipped")
            continue
        used[r] = seeds
        print(f"repeat {r}: complete seeds {seeds} ({n_pair} pair, {n_refit} "
              "refit networks)")
        for kk in sizes(len(seeds)):
            label = (f"K'={kk} (seed {seeds[0]})" if kk == 1 else
                     f"K'={kk} (seeds {seeds[0]}-{seeds[kk - 1]})")
            results[label][r] = evaluate(rep, y, seeds[:kk], args.min_sensitivity)
            if label not in order:
                order.append(label)
        for s in seeds[1:]:
            label = f"K'=1 (seed {s} only)"
            results[label][r] = evaluate(rep, y, [s], args.min_sensitivity)
            if label not in order:
                order.append(label)
    if not used:
        sys.exit("nothing to analyse")

    print("\nPer repeat (pooled 200 out-of-fold predictions; tuned = threshold "
          "from the pair networks' inner folds, >= rule)")
    for r in used:
        print(f"\nrepeat {r}\n" + header())
        for label in order:
            if r in results[label]:
                print(row(label, results[label][r]))

    print(f"\nMean ± SD over repeats {list(used)} (FN: mean per repeat of 100 "
          "positives)\n" + header(sd=True))
    summary = {}
    for label in order:
        ms = list(results[label].values())
        mean = {k: float(np.mean([m[k] for m in ms])) for k, _, _ in COLUMNS}
        sd = {k: float(np.std([m[k] for m in ms], ddof=1)) if len(ms) > 1 else 0.0
              for k, _, _ in COLUMNS}
        summary[label] = {"mean": mean, "sd": sd, "n_repeats": len(ms)}
        print(row(f"{label} [{len(ms)}r]", mean, sd))
    singles = [lab for lab in order if lab.startswith("K'=1")]
    if len(singles) > 1:
        # seed-to-seed spread: per repeat, SD over the single seeds; then mean
        per_rep_sd = []
        for r in used:
            ms = [results[lab][r] for lab in singles if r in results[lab]]
            if len(ms) > 1:
                per_rep_sd.append({k: np.std([m[k] for m in ms], ddof=1)
                                   for k, _, _ in COLUMNS})
        if per_rep_sd:
            mean_sd = {k: float(np.mean([d[k] for d in per_rep_sd]))
                       for k, _, _ in COLUMNS}
            print(row("seed-to-seed SD (1 seed)", mean_sd))
            summary["seed_to_seed_sd"] = mean_sd
    print("\nAUC: ROC AUC of the pooled refit scores; tuned sens/spec/FN: "
          "refit scores >= the inner threshold of their fold; oracle spec: "
          "best specificity with sensitivity >= the floor on the pooled test "
          "scores themselves; thr mean: mean of the 10 fold thresholds; inner "
          "spec: mean specificity on the inner (pair) scores.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"per_repeat": {lab: {str(r): m for r, m in v.items()}
                                      for lab, v in results.items()},
                       "summary": summary, "seeds": {str(r): s for r, s in
                                                     used.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
