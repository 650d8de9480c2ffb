#!/usr/bin/env bash
# Interrupting and resuming a run gives the same weights as never stopping (on the CPU, bit for bit):
#   1. a straight run of 3 epochs;
#   2. the same run stopped by SIGINT mid-epoch (checkpoint on the way out), then --resume;
#   3. the same run killed by SIGKILL after its first epoch's checkpoint, then --resume;
#   4. a fresh run into the straight run's folder starts a new log.
# Usage: test_resume.sh <resa_cifar binary> <scratch dir>
set -euo pipefail
BIN=$1
TMP=$2
DATA=/usr/share/datasets/fashion-mnist
if [ ! -f "$DATA/train-images-idx3-ubyte.gz" ]; then
  echo "SKIP: Fashion-MNIST is not installed ($DATA; apt-get install dataset-fashion-mnist)"
  exit 0
fi
rm -rf "$TMP" && mkdir -p "$TMP"
ARGS=(--dataset fashion-mnist --arch resnet_small --width 8 --mlp 64-64-32 --train-subset 320 --eval-subset 200
      --batch-size 64 --epochs 3 --warmup-epochs 1 --eval-every 1 --probe-epochs 0 --threads 2 --workers 2 --seed 5)

"$BIN" "${ARGS[@]}" --out "$TMP/straight" > "$TMP/straight.txt"

# SIGINT: wait until step 7 of 15 is logged (mid-epoch 2), interrupt, resume.
"$BIN" "${ARGS[@]}" --out "$TMP/int" > "$TMP/int1.txt" 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ -f "$TMP/int/log.jsonl" ] && grep -q '"step":7,' "$TMP/int/log.jsonl" && break
  sleep 0.1
done
kill -INT $pid
rc=0; wait $pid || rc=$?
[ "$rc" = 130 ] || { echo "FAIL: SIGINT run exited $rc, expected 130"; cat "$TMP/int1.txt"; exit 1; }
grep -q "stopped at step" "$TMP/int1.txt" || { echo "FAIL: no checkpoint message after SIGINT"; exit 1; }
"$BIN" "${ARGS[@]}" --out "$TMP/int" --resume > "$TMP/int2.txt"
grep -q "resumed at step" "$TMP/int2.txt" || { echo "FAIL: the SIGINT run did not resume"; exit 1; }

# SIGKILL: wait for the end of epoch 1 (its checkpoint), let it run on a little, kill, resume.
"$BIN" "${ARGS[@]}" --out "$TMP/kill" > "$TMP/kill1.txt" 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ -f "$TMP/kill/log.jsonl" ] && grep -q '"type":"eval"' "$TMP/kill/log.jsonl" && break
  sleep 0.1
done
for _ in $(seq 300); do grep -q '"step":7,' "$TMP/kill/log.jsonl" && break; sleep 0.1; done
kill -KILL $pid
wait $pid || true
"$BIN" "${ARGS[@]}" --out "$TMP/kill" --resume > "$TMP/kill2.txt"
grep -q "resumed at step 5" "$TMP/kill2.txt" || { echo "FAIL: the SIGKILL run did not resume from epoch 1"; cat "$TMP/kill2.txt"; exit 1; }

# The tensor bytes of a safetensors file (after its 8-byte length and JSON header; the header's
# metadata names the run's own output folder, so it differs between runs).
tensor_bytes() { local n; n=$(od -An -t u8 -N8 "$1" | tr -d ' '); tail -c +$((n + 9)) "$1"; }
fail=0
for run in int kill; do
  if cmp -s "$TMP/straight/encoder.safetensors" "$TMP/$run/encoder.safetensors" &&
     cmp -s <(tensor_bytes "$TMP/straight/checkpoint.safetensors") <(tensor_bytes "$TMP/$run/checkpoint.safetensors"); then
    echo "ok: $run run resumed to bit-identical weights and optimizer state"
  else
    echo "FAIL: $run run's final weights differ from the straight run's"; fail=1
  fi
  # The resumed log continues: every step 1..15 exactly once.
  n=$(grep -c '"type":"step"' "$TMP/$run/log.jsonl")
  steps=$(grep '"type":"step"' "$TMP/$run/log.jsonl" | grep -o '"step":[0-9]*' | sort -u | wc -l)
  if [ "$n" = 15 ] && [ "$steps" = 15 ]; then echo "ok: $run log has steps 1..15 once each"
  else echo "FAIL: $run log has $n step lines, $steps distinct (expected 15)"; fail=1; fi
done
# A fresh run (no --resume) into a folder that holds an earlier run starts a fresh log.
"$BIN" "${ARGS[@]}" --max-steps 2 --out "$TMP/straight" > "$TMP/fresh.txt"
n=$(grep -c '"type":"step"' "$TMP/straight/log.jsonl")
if [ "$n" = 2 ]; then echo "ok: a fresh run into a used folder logs only its own 2 steps"
else echo "FAIL: a fresh run into a used folder left $n step lines in its log (expected 2)"; fail=1; fi
exit $fail
