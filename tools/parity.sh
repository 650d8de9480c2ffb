#!/usr/bin/env bash
# Parity check: trains ReSA with our engine (apps/resa_cifar) and with its PyTorch twin (bench/twin_run.py,
# built as the official ReSA CIFAR code) on one config for several seeds, then prints the two side by side
# (tools/parity_table.py): windowed training loss, final kNN / weighted kNN / linear probe, and a verdict.
#
#   bash tools/parity.sh                      # seeds 0 1 2, 20k images x 4 epochs (~40 min on 2 cores)
#   bash tools/parity.sh "0 1" -- --epochs 2  # extra arguments go to both trainers
#   CONFIG="--dataset fashion-mnist ..." bash tools/parity.sh
#
# Environment: CONFIG (the arguments of both runs), BUILD (build folder, default build), RUNS (default
# runs/parity), FORCE=1 (rerun finished runs). A run whose log.jsonl already has its "final" line is skipped,
# so an interrupted comparison resumes where it stopped. The runs go one after the other, never together:
# each uses all cores.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

SEEDS="0 1 2"
if [[ $# -gt 0 && "$1" != "--" ]]; then SEEDS="$1"; shift; fi
if [[ $# -gt 0 && "$1" == "--" ]]; then shift; fi
EXTRA=("$@")

CONFIG=${CONFIG:-"--dataset fashion-mnist --arch resnet_small --width 16 --mlp 512-512-128 --train-subset 20000 \
--batch-size 128 --epochs 4 --warmup-epochs 1 --eval-every 2 --eval-subset 10000 --probe-epochs 100"}
read -r -a CONFIG_ARGS <<< "$CONFIG"
BUILD=${BUILD:-build}
RUNS=${RUNS:-runs/parity}
PY=/usr/bin/python3   # Debian's interpreter: the one with torch and torchvision
export OMP_WAIT_POLICY=passive
mkdir -p "$RUNS"

finished() { [[ "${FORCE:-0}" != 1 ]] && grep -Eq '"type": ?"final"' "$1/log.jsonl" 2>/dev/null; }

have_ours=1
if ! { cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRESA_CUDA=OFF > /dev/null &&
       cmake --build "$BUILD" --target resa_cifar; }; then
  echo "parity: building resa_cifar failed; only the twin runs" >&2
  have_ours=0
fi

# run NAME CMD...: one run, its console output in RUNS/NAME.out; a failure is reported, not fatal.
run() {
  local name=$1; shift
  local out="$RUNS/$name"
  if finished "$out"; then echo "parity: $name already finished, skipped (FORCE=1 reruns it)"; return; fi
  echo "parity: $name ..."
  local t0=$SECONDS
  if "$@" --out "$out" > "$RUNS/$name.out" 2>&1; then
    echo "parity: $name done in $((SECONDS - t0)) s"
  else
    echo "parity: $name FAILED (exit $?); see $RUNS/$name.out" >&2
  fi
}

for s in $SEEDS; do
  if [[ $have_ours == 1 ]]; then
    # --overwrite: an unfinished earlier run of this name is replaced, not refused.
    run "ours_s$s" "$BUILD/apps/resa_cifar" --overwrite "${CONFIG_ARGS[@]}" "${EXTRA[@]}" --seed "$s"
  fi
  run "twin_s$s" "$PY" bench/twin_run.py "${CONFIG_ARGS[@]}" "${EXTRA[@]}" --seed "$s"
done

# The warm-up of the config (last occurrence wins, as in both parsers; 2 is both trainers' default).
WARMUP=2
ALL=("${CONFIG_ARGS[@]}" "${EXTRA[@]}")
for ((i = 0; i < ${#ALL[@]}; i++)); do
  case "${ALL[i]}" in
    --warmup-epochs) WARMUP="${ALL[i + 1]:-2}" ;;
    --warmup-epochs=*) WARMUP="${ALL[i]#*=}" ;;
  esac
done
echo
"$PY" tools/parity_table.py "$RUNS" --warmup-epochs "$WARMUP"
