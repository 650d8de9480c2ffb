#!/usr/bin/env python3
"""Collects the clustering analyses of tools/run_clustering.sh into one Markdown table (RESULTS.md).

Reads RUNS/an_<method>/clustering/clustering.json (written by resa_cluster) and the kNN evaluations in
RUNS/an_<method>/log.jsonl (written by resa_cifar). Usage: tools/clustering_table.py [RUNS] [methods...]
Only the standard library: runs under any Python 3.
"""
import json
import os
import sys


def knn_by_epoch(log_path):
    out = {}
    if os.path.exists(log_path):
        with open(log_path) as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("type") == "eval" and "knn_top1" in rec:
                    out[int(rec["epoch"])] = rec["knn_top1"]
    return out


def main():
    runs = sys.argv[1] if len(sys.argv) > 1 else "runs"
    methods = sys.argv[2:] or ["resa", "simclr", "byol", "swav", "vicreg"]
    print("| method | checkpoint | kNN (H) | component | dim | SC_mean | SC_std | ARI |")
    print("|---|---|---|---|---|---|---|---|")
    pixels_done = False
    inits = {}  # the untrained rows of each method; printed once when they are the same (same seed)
    for m in methods:
        path = os.path.join(runs, "an_" + m, "clustering", "clustering.json")
        if not os.path.exists(path):
            print(f"| {m} | - | - | H, P0, P1, Z | | missing | missing | missing |")
            continue
        with open(path) as f:
            data = json.load(f)
        if data.get("pixels") and not pixels_done:
            p = data["pixels"]
            print(f"| raw pixels | - | - | X | {p['dim']} | {p['sc_mean']:.4f} | {p['sc_std']:.4f} | {p['ari']:.4f} |")
            pixels_done = True
        knn = knn_by_epoch(os.path.join(runs, "an_" + m, "log.jsonl"))
        for ck in data["checkpoints"]:
            name = ck["checkpoint"]
            if name == "init":
                sig = json.dumps([[c["name"], round(c["sc_mean"], 6), round(c["ari"], 6)] for c in ck["components"]])
                if sig in inits:
                    print(f"| {m} | untrained | | H, P0, P1, Z | | same as {inits[sig]} | | |")
                    continue
                inits[sig] = m
            epoch = 0 if name == "init" else int(round(ck.get("epoch", 0)))
            label = "untrained" if name == "init" else f"epoch {epoch}"
            for i, c in enumerate(ck["components"]):
                acc = knn.get(epoch) if i == 0 else None
                acc_s = f"{100 * acc:.2f}%" if acc is not None else ""
                print(f"| {m} | {label} | {acc_s} | {c['name']} | {c['dim']} | {c['sc_mean']:.4f} | "
                      f"{c['sc_std']:.4f} | {c['ari']:.4f} |")


if __name__ == "__main__":
    main()
