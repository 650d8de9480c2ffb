"""Side-by-side table of our ReSA runs and the PyTorch twin's (bench/twin_run.py), from their log.jsonl.

    /usr/bin/python3 tools/parity_table.py runs/parity [--warmup-epochs N]

RUNS holds ours_sS/ and twin_sS/ folders (S = seed), as tools/parity.sh writes them; missing or unfinished
runs are reported as such and the rest is compared. Prints the training loss averaged over windows of 50
steps, the final metrics (mean +- std over seeds, and per seed), the kNN evaluations during training and a
verdict against the bounds of the parity check. Always exits 0: it is a report. Standard library only.
"""
import argparse
import json
import math
import os
import re
import statistics
import sys

WINDOW = 50
# Bounds of the parity check (percentage points for accuracies, nats for the loss).
KNN_BOUND, PROBE_BOUND, LOSS_BOUND = 1.5, 2.0, 0.05
FINAL_METRICS = [
    ("kNN k=5, teacher", "knn_top1"),
    ("kNN k=5, online", "knn_online_top1"),
    ("weighted kNN k=200, teacher", "wknn_top1"),
    ("weighted kNN k=200, online", "wknn_online_top1"),
    ("linear probe top-1, teacher", "probe_top1"),
    ("linear probe top-5, teacher", "probe_top5"),
    ("linear probe top-1, online", "probe_online_top1"),
    ("linear probe top-5, online", "probe_online_top5"),
]
SIDES = ("ours", "twin")


def read_log(path):
    """Step losses {step: (epoch, loss, lr, ms)}, eval records and the final record (or None) of one run;
    unreadable lines (e.g. a half-written last line) are skipped."""
    steps, evals, final = {}, [], None
    with open(path) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            kind = r.get("type")
            if kind == "step" and isinstance(r.get("loss"), (int, float)):
                steps[int(r["step"])] = (int(r.get("epoch", 0)), float(r["loss"]), float(r.get("lr", 0.0)),
                                         float(r.get("ms", 0.0)))
            elif kind == "eval":
                evals.append(r)
            elif kind == "final":
                final = r
    return {"steps": steps, "evals": evals, "final": final}


def load_runs(root):
    """{side: {seed: run}} for every ours_sS / twin_sS folder holding a log.jsonl."""
    runs = {side: {} for side in SIDES}
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        m = re.fullmatch(r"(ours|twin)_s(\d+)", name)
        log = os.path.join(root, name, "log.jsonl")
        if m and os.path.isfile(log):
            run = read_log(log)
            run["dir"] = os.path.join(root, name)
            runs[m.group(1)][int(m.group(2))] = run
    return runs


def mean_std(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return None, None
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


def fmt(mean, std, digits, scale=1.0):
    if mean is None:
        return "-"
    s = f"{scale * mean:.{digits}f}"
    return s + (f" ± {scale * std:.{digits}f}" if std is not None else "")


def fmt_diff(a, b, digits, scale=1.0):
    return "-" if a is None or b is None else f"{scale * (a - b):+.{digits}f}"


def steps_per_epoch(runs):
    """From the logs: the last step of epoch 1 in a run that reached epoch 2, else max step / max epoch
    of a finished run; the most common value over all runs."""
    found = []
    for side in SIDES:
        for run in runs[side].values():
            st = run["steps"]
            if any(e >= 2 for e, _, _, _ in st.values()):
                found.append(max(s for s, (e, _, _, _) in st.items() if e == 1))
            elif run["final"] is not None and st:
                found.append(max(st) // max(e for e, _, _, _ in st.values()))
    return max(set(found), key=found.count) if found else None


def warmup_epochs_of(runs, given):
    """--warmup-epochs if given, else the twin's config.json, else None."""
    if given is not None:
        return given
    for run in runs["twin"].values():
        try:
            with open(os.path.join(run["dir"], "config.json")) as f:
                return int(json.load(f)["warmup_epochs"])
        except (OSError, ValueError, KeyError):
            continue
    return None


def window_means(run):
    """{window index: mean loss of that run's steps in it}; window w covers steps 50w+1 .. 50w+50."""
    sums = {}
    for step, (_, loss, _, _) in run["steps"].items():
        w = (step - 1) // WINDOW
        s, n = sums.get(w, (0.0, 0))
        sums[w] = (s + loss, n + 1)
    # An unfinished run's last window may be cut short: its early, higher losses would bias the mean.
    return {w: s / n for w, (s, n) in sums.items() if run["final"] is not None or n == WINDOW}


def loss_table(runs, warmup_steps):
    """Prints the windowed-loss table; returns the largest |ours - twin| among windows after the warm-up."""
    per_side = {side: [window_means(r) for r in runs[side].values()] for side in SIDES}
    windows = sorted({w for side in SIDES for wm in per_side[side] for w in wm})
    print(f"## Training loss, mean over windows of {WINDOW} steps (± std over seeds)\n")
    print("Windows marked (warm-up) begin inside the warm-up and are left out of the verdict.\n")
    print("| window | ours | twin | ours - twin |")
    print("|---|---|---|---|")
    worst = None
    for w in windows:
        m = {side: mean_std([wm.get(w) for wm in per_side[side]]) for side in SIDES}
        first, last = WINDOW * w + 1, WINDOW * (w + 1)
        after_warmup = warmup_steps is not None and first > warmup_steps
        mark = "" if warmup_steps is None or after_warmup else " (warm-up)"
        print(f"| {first}-{last}{mark} | {fmt(*m['ours'], 4)} | {fmt(*m['twin'], 4)} | "
              f"{fmt_diff(m['ours'][0], m['twin'][0], 4)} |")
        if after_warmup and m["ours"][0] is not None and m["twin"][0] is not None:
            d = abs(m["ours"][0] - m["twin"][0])
            worst = d if worst is None else max(worst, d)
    print()
    return worst


def final_table(runs):
    """Prints the final-metrics table; returns {key: (ours mean, twin mean)} in fractions."""
    finals = {side: {seed: r["final"] for seed, r in runs[side].items() if r["final"]} for side in SIDES}
    print("## Final metrics in % (mean ± std over seeds)\n")
    print("| metric | ours | twin | ours - twin | ours per seed | twin per seed |")
    print("|---|---|---|---|---|---|")
    means = {}
    for label, key in FINAL_METRICS:
        m, per_seed = {}, {}
        for side in SIDES:
            vals = {seed: f.get(key) for seed, f in finals[side].items() if f.get(key) is not None}
            m[side] = mean_std(list(vals.values()))
            per_seed[side] = ", ".join(f"s{seed} {100 * v:.2f}" for seed, v in sorted(vals.items())) or "-"
        if m["ours"][0] is None and m["twin"][0] is None:
            continue  # e.g. the probe was skipped on both sides
        means[key] = (m["ours"][0], m["twin"][0])
        print(f"| {label} | {fmt(*m['ours'], 2, 100)} | {fmt(*m['twin'], 2, 100)} | "
              f"{fmt_diff(m['ours'][0], m['twin'][0], 2, 100)} | {per_seed['ours']} | {per_seed['twin']} |")
    # Throughput: images/s of the final record, else from the step times.
    speed = {}
    for side in SIDES:
        vals = []
        for run in runs[side].values():
            f = run["final"] or {}
            vals.append(f.get("images_per_s"))
        speed[side] = mean_std(vals)
    print(f"| training images/s (not %) | {fmt(*speed['ours'], 0)} | {fmt(*speed['twin'], 0)} | "
          f"{fmt_diff(speed['ours'][0], speed['twin'][0], 0)} | | |")
    print()
    return means


def eval_table(runs):
    """kNN (k=5) of the evaluations during training, by epoch."""
    by_epoch = {}
    for side in SIDES:
        for run in runs[side].values():
            for e in run["evals"]:
                for who, key in (("teacher", "knn_top1"), ("online", "knn_online_top1")):
                    if e.get(key) is not None:
                        by_epoch.setdefault(int(e.get("epoch", 0)), {}).setdefault((side, who), []).append(e[key])
    if not by_epoch:
        return
    print("## kNN k=5 top-1 during training, % (mean ± std over seeds)\n")
    print("| epoch | ours teacher | twin teacher | ours online | twin online |")
    print("|---|---|---|---|---|")
    for epoch in sorted(by_epoch):
        cells = [fmt(*mean_std(by_epoch[epoch].get((side, who), [])), 2, 100)
                 for who in ("teacher", "online") for side in SIDES]
        print(f"| {epoch} | " + " | ".join(cells) + " |")
    print()


def verdict(name, value, bound, unit):
    if value is None:
        print(f"- {name}: MISSING (not in both sides' logs)")
        return None
    ok = value <= bound
    print(f"- {name}: {value:.{2 if unit == 'points' else 4}f} {unit} (bound {bound}) -> {'PASS' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="?", default="runs/parity", help="folder of ours_sS / twin_sS runs")
    ap.add_argument("--warmup-epochs", type=int, default=None,
                    help="warm-up epochs of the runs (default: from the twin's config.json)")
    args = ap.parse_args()

    runs = load_runs(args.runs)
    print(f"# ReSA parity: ours vs the PyTorch twin ({args.runs})\n")
    for side in SIDES:
        status = [f"s{seed}" + ("" if r["final"] else f" (unfinished, {len(r['steps'])} steps)")
                  for seed, r in sorted(runs[side].items())]
        print(f"- {side}: {', '.join(status) if status else 'no runs'}")
    if not any(runs[side] for side in SIDES):
        print("\nnothing to compare")
        return 0
    finished = {side: sorted(seed for seed, r in runs[side].items() if r["final"]) for side in SIDES}
    if finished["ours"] != finished["twin"]:
        print("- note: the two sides finished different seeds; each mean is over its own side's seeds")
    spe = steps_per_epoch(runs)
    warmup = warmup_epochs_of(runs, args.warmup_epochs)
    warmup_steps = spe * warmup if spe is not None and warmup is not None else None
    print(f"- steps per epoch {spe if spe is not None else '?'}, warm-up {warmup if warmup is not None else '?'} "
          f"epochs = {warmup_steps if warmup_steps is not None else '?'} steps\n")

    worst_loss = loss_table(runs, warmup_steps)
    means = final_table(runs)
    eval_table(runs)

    def gap(key):
        a, b = means.get(key, (None, None))
        return None if a is None or b is None else 100 * abs(a - b)

    print("## Verdict\n")
    results = [verdict("teacher kNN k=5 top-1, |ours - twin| of the means", gap("knn_top1"), KNN_BOUND, "points"),
               verdict("teacher linear probe top-1, |ours - twin| of the means", gap("probe_top1"), PROBE_BOUND,
                       "points"),
               verdict("windowed loss after the warm-up, largest |ours - twin|", worst_loss, LOSS_BOUND, "nats")]
    overall = "FAIL" if False in results else ("INCOMPLETE" if None in results else "PASS")
    print(f"\nPARITY: {overall}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
