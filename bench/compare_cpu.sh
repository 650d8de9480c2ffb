#!/usr/bin/env bash
# Our ReSA training step against PyTorch's twin (bench/resa_torch.py) on this CPU, run in turns
# (ours, torch, ours, torch, ...) so that load from other processes hits both sides alike.
# Prints, per config, the median ms/step of each side over the rounds, the ratio ours/PyTorch and the
# peak resident memory of each process.
#
#   bench/compare_cpu.sh [BUILD_DIR] [ROUNDS] [STEPS]
#     BUILD_DIR  build directory holding resa_bench (default: build)
#     ROUNDS     A/B rounds per config (default: 3)
#     STEPS      timed steps per run, each side reports its median (default: 3)
#   CONFIGS=cifar|fmnist|all (default all) picks the configs; THREADS (default 2).
#   BASELINE=path/to/an/older/resa_bench adds it to each round (ours, baseline, torch), for before/after.
#   The environment passes to both sides: on a loaded machine OMP_WAIT_POLICY=passive stops libgomp's
#   idle threads (ours, OpenBLAS's and PyTorch's alike) from spinning on the cores the work needs.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
ROUNDS=${2:-3}
STEPS=${3:-3}
THREADS=${THREADS:-2}
CONFIGS=${CONFIGS:-all}
PY_TORCH=/usr/bin/python3
BENCH="$BUILD/resa_bench"
[ -x "$BENCH" ] || BENCH="$BUILD/apps/resa_bench"
[ -x "$BENCH" ] || { echo "resa_bench not found under $BUILD (ninja -C $BUILD resa_bench)" >&2; exit 1; }
"$PY_TORCH" -c "import torch" 2>/dev/null || { echo "$PY_TORCH has no torch" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# run_pair NAME "OUR ARGS" "TORCH ARGS"
run_pair() {
  local name=$1 ours=$2 theirs=$3
  echo "== $name: $ROUNDS rounds, $STEPS steps per run, $THREADS threads"
  echo "   ours : $BENCH $ours --threads $THREADS --warmup 1 --runs $STEPS"
  echo "   torch: $PY_TORCH bench/resa_torch.py $theirs --threads $THREADS --warmup 1 --steps $STEPS"
  for r in $(seq 1 "$ROUNDS"); do
    # shellcheck disable=SC2086
    "$BENCH" $ours --threads "$THREADS" --warmup 1 --runs "$STEPS" | grep '^{' | tail -1 >>"$TMP/$name.ours"
    if [ -n "${BASELINE:-}" ]; then
      # shellcheck disable=SC2086
      "$BASELINE" $ours --threads "$THREADS" --warmup 1 --runs "$STEPS" | grep '^{' | tail -1 >>"$TMP/$name.base"
    fi
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=$THREADS "$PY_TORCH" bench/resa_torch.py $theirs --threads "$THREADS" --warmup 1 \
      --steps "$STEPS" | grep '^{' | tail -1 >>"$TMP/$name.torch"
    echo "   round $r: ours $(tail -1 "$TMP/$name.ours" | grep -o '"ms_per_step": *[0-9.]*' | cut -d: -f2) ms," \
      "torch $(tail -1 "$TMP/$name.torch" | grep -o '"ms_per_step": *[0-9.]*' | cut -d: -f2) ms" \
      "${BASELINE:+baseline $(tail -1 "$TMP/$name.base" | grep -o '"ms_per_step": *[0-9.]*' | cut -d: -f2) ms}"
  done
  "$PY_TORCH" - "$name" "$TMP/$name.ours" "$TMP/$name.torch" "$TMP/$name.base" <<'EOF'
import json, os, statistics, sys
name, fo, ft, fb = sys.argv[1:5]
o = [json.loads(l) for l in open(fo)]
t = [json.loads(l) for l in open(ft)]
mo = statistics.median(r["ms_per_step"] for r in o)
mt = statistics.median(r["ms_per_step"] for r in t)
spread = lambda rs: (min(r["ms_per_step"] for r in rs), max(r["ms_per_step"] for r in rs))
print(f"   {name}: ours {mo:.0f} ms/step (range {spread(o)[0]:.0f}-{spread(o)[1]:.0f}), "
      f"torch {mt:.0f} ms/step (range {spread(t)[0]:.0f}-{spread(t)[1]:.0f}), ratio ours/torch {mo / mt:.2f}")
print(f"   {name}: step {o[0]['step_gflop']:.1f} GFLOP (ours' count), {t[0]['step_gflop']:.1f} GFLOP (torch's count); "
      f"ours {o[0]['step_gflop'] * 1e3 / mo:.1f} GFLOP/s, torch {t[0]['step_gflop'] * 1e3 / mt:.1f} GFLOP/s")
print(f"   {name}: peak RSS ours {max(r['peak_rss_mb'] for r in o)} MB, torch {max(r['peak_rss_mb'] for r in t)} MB")
extra = {}
if os.path.exists(fb):
    b = [json.loads(l) for l in open(fb)]
    mb = statistics.median(r["ms_per_step"] for r in b)
    print(f"   {name}: baseline {mb:.0f} ms/step (range {spread(b)[0]:.0f}-{spread(b)[1]:.0f}), ratio baseline/torch "
          f"{mb / mt:.2f}, ours/baseline {mo / mb:.2f}; baseline peak RSS {max(r['peak_rss_mb'] for r in b)} MB")
    extra = {"baseline_ms": mb, "baseline_ratio": mb / mt, "baseline_peak_rss_mb": max(r["peak_rss_mb"] for r in b)}
print(json.dumps({"config": name, **extra, "ours_ms": mo, "torch_ms": mt, "ratio": mo / mt,
                  "ours_peak_rss_mb": max(r["peak_rss_mb"] for r in o),
                  "torch_peak_rss_mb": max(r["peak_rss_mb"] for r in t), "rounds": len(o)}))
EOF
}

if [ "$CONFIGS" = all ] || [ "$CONFIGS" = cifar ]; then
  run_pair resnet18_cifar_b64 "--arch resnet18 --batch 64 --image 32" "--arch resnet18 --batch 64 --image 32"
fi
if [ "$CONFIGS" = all ] || [ "$CONFIGS" = fmnist ]; then
  run_pair resnet_small_fmnist_b256 "--arch resnet_small --channels 1 --image 28 --batch 256 --mlp 2048-2048-512" \
    "--arch resnet_small --in-channels 1 --image 28 --batch 256 --mlp 2048-2048-512"
fi
