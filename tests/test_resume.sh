#!/usr/bin/env bash
# Interrupting and resuming a run gives the same weights as never stopping (on the CPU, bit for bit):
#   1. a straight run of 3 epochs;
#   2. the same run stopped by SIGINT, SIGTERM and SIGUSR1 mid-epoch (checkpoint on the way out, exit
#      status 128 + the signal), then --resume; two signals in a row end a run at once;
#   3. the same run killed by SIGKILL after its first epoch's checkpoint, then --resume;
#   4. the same run killed by SIGKILL after a timed mid-epoch checkpoint (--checkpoint-every-minutes),
#      then --resume;
#   5. the same run with a file size limit (ulimit -f, as a full disk: writes fail with EFBIG) when it
#      saves a checkpoint and when it rewrites its log: a clear error naming the file, the previous
#      checkpoint intact, and a resume from it without the limit;
#   6. a fresh run into the straight run's folder refuses, naming the files; with --overwrite it starts
#      clean (a new log, no epoch_NNN files of the older run).
# Usage: test_resume.sh <resa_cifar binary> <scratch dir>
set -euo pipefail
BIN=$1
TMP=$2
source "$(dirname "$0")/resume_lib.sh"
require_fashion_mnist
rm -rf "$TMP" && mkdir -p "$TMP"
set_run_args 2

"$BIN" "${ARGS[@]}" --keep-checkpoints --out "$TMP/straight" > "$TMP/straight.txt"

# A signal: wait until step 7 of 15 is logged (mid-epoch 2), send it, expect 128 + its number, resume.
stop_and_resume() {  # name, signal, expected exit status
  local run=$1 sig=$2 want=$3
  "$BIN" "${ARGS[@]}" --out "$TMP/$run" > "$TMP/${run}1.txt" 2>&1 &
  local pid=$!
  wait_step "$TMP/$run" 7
  kill -"$sig" $pid
  local rc=0; wait $pid || rc=$?
  [ "$rc" = "$want" ] || { echo "FAIL: SIG$sig run exited $rc, expected $want"; cat "$TMP/${run}1.txt"; exit 1; }
  grep -q "stopped at step" "$TMP/${run}1.txt" || { echo "FAIL: no checkpoint message after SIG$sig"; exit 1; }
  "$BIN" "${ARGS[@]}" --out "$TMP/$run" --resume > "$TMP/${run}2.txt"
  grep -q "resumed at step" "$TMP/${run}2.txt" || { echo "FAIL: the SIG$sig run did not resume"; exit 1; }
  echo "ok: SIG$sig stopped the run with status $rc and it resumed"
}
stop_and_resume int INT 130
stop_and_resume term TERM 143
stop_and_resume usr1 USR1 138
# A second signal ends the run at once: SIGUSR1, then SIGTERM as soon as the first handler has run (it
# puts the default actions back: /proc shows SIGTERM no longer caught), well within the step: killed by
# SIGTERM (143, not the clean 138), without the stop's checkpoint message.
caught() { local m; m=$(awk '/^SigCgt:/ {print $2}' /proc/"$1"/status 2> /dev/null) || return 1
           [ -n "$m" ] && (( (16#$m >> ($2 - 1)) & 1 )); }
"$BIN" "${ARGS[@]}" --out "$TMP/twice" > "$TMP/twice.txt" 2>&1 &
pid=$!
wait_step "$TMP/twice" 3
kill -USR1 $pid
for _ in $(seq 500); do caught $pid 15 || break; sleep 0.005; done
kill -TERM $pid
rc=0; wait $pid 2> /dev/null || rc=$?
if [ "$rc" = 143 ] && ! grep -q "stopped at step" "$TMP/twice.txt"; then echo "ok: a second signal ends the run at once"
else echo "FAIL: after two signals the run exited $rc:"; cat "$TMP/twice.txt"; exit 1; fi

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

# The timer: a checkpoint every 0.003 minutes (0.18 s, one to a few steps, with how fast the CPU is);
# SIGKILL as soon as a timed checkpoint lands early in an epoch (step 1-3 of its 5), so that the next
# checkpoint is still steps away; resume from that mid-epoch step.
"$BIN" "${ARGS[@]}" --checkpoint-every-minutes 0.003 --out "$TMP/timer" > "$TMP/timer1.txt" 2>&1 &
pid=$!
early=""
for _ in $(seq 1200); do
  early=$(grep -o "timed checkpoint at step [0-9]* " "$TMP/timer1.txt" | grep -o "[0-9]*" |
          awk '$1 % 5 >= 1 && $1 % 5 <= 3 {print; exit}' || true)
  [ -n "$early" ] && break
  kill -0 $pid 2> /dev/null || break
  sleep 0.02
done
kill -KILL $pid 2> /dev/null || true
wait $pid || true
[ -n "$early" ] || { echo "FAIL: no timed checkpoint early in an epoch"; cat "$TMP/timer1.txt"; exit 1; }
"$BIN" "${ARGS[@]}" --out "$TMP/timer" --resume > "$TMP/timer2.txt"
at=$(grep -o "resumed at step [0-9]*" "$TMP/timer2.txt" | grep -o "[0-9]*$" || true)
if [ -n "$at" ] && [ $((at % 5)) != 0 ]; then echo "ok: the timer's checkpoint (step $at, mid-epoch) resumed"
else echo "FAIL: the timed run resumed at step '${at}', not from a mid-epoch checkpoint"; cat "$TMP/timer2.txt"; exit 1; fi

# A full disk, as a file size limit: writes past it fail with EFBIG (SIGXFSZ ignored, as resa_cifar
# also does). A run stopped mid-epoch 2 (SIGINT) is resumed under a limit of 600 KB, which its log fits
# and its 1 MB checkpoint does not: the save at the end of epoch 2 must fail naming the file, leaving
# the mid-epoch checkpoint intact and no temporary file. Then 1 KB, less than the log it rewrites when it
# resumes. Then a resume without a limit must still end bit-exact.
"$BIN" "${ARGS[@]}" --out "$TMP/disk" > "$TMP/disk1.txt" 2>&1 &
pid=$!
wait_step "$TMP/disk" 7
kill -INT $pid
wait $pid || true
at=$(grep -o "stopped at step [0-9]*" "$TMP/disk1.txt" | grep -o "[0-9]*$")
sum_before=$(md5sum < "$TMP/disk/checkpoint.safetensors")
limited() {  # KB, output file, args...
  local kb=$1 out=$2; shift 2
  local rc=0
  (trap '' XFSZ; ulimit -f "$kb"; exec "$BIN" "$@") > "$out" 2>&1 || rc=$?
  echo "$rc"
}
rc=$(limited 600 "$TMP/disk2.txt" "${ARGS[@]}" --out "$TMP/disk" --resume)
if [ "$rc" = 1 ] && grep -q "checkpoint.safetensors.tmp: write failed.*File too large" "$TMP/disk2.txt" &&
   grep -q "still holds the previous checkpoint" "$TMP/disk2.txt" &&
   [ "$(md5sum < "$TMP/disk/checkpoint.safetensors")" = "$sum_before" ] && ! ls "$TMP/disk/"*.tmp > /dev/null 2>&1; then
  echo "ok: a checkpoint past the size limit fails naming the file; the previous checkpoint is intact"
else
  echo "FAIL: the checkpoint write past the size limit (exit $rc):"; cat "$TMP/disk2.txt"; ls -la "$TMP/disk"; exit 1
fi
# (The failed run logged steps up to 10; a resume keeps those up to the checkpoint's, over 1 KB.)
rc=$(limited 1 "$TMP/disk3.txt" "${ARGS[@]}" --out "$TMP/disk" --resume)
if [ "$rc" = 1 ] && grep -q "cannot write .*log.jsonl.tmp: File too large" "$TMP/disk3.txt" &&
   [ "$(md5sum < "$TMP/disk/checkpoint.safetensors")" = "$sum_before" ] && ! ls "$TMP/disk/"*.tmp > /dev/null 2>&1; then
  echo "ok: a log rewrite past the size limit fails naming the file; the checkpoint is intact"
else
  echo "FAIL: the log rewrite past the size limit (exit $rc):"; cat "$TMP/disk3.txt"; ls -la "$TMP/disk"; exit 1
fi
"$BIN" "${ARGS[@]}" --out "$TMP/disk" --resume > "$TMP/disk4.txt"
grep -q "resumed at step $at " "$TMP/disk4.txt" || { echo "FAIL: the full-disk run did not resume from step $at"; cat "$TMP/disk4.txt"; exit 1; }

fail=0
for run in int term usr1 kill timer disk; do
  if same_end "$TMP/straight" "$TMP/$run"; then echo "ok: $run run resumed to bit-identical weights and optimizer state"
  else echo "FAIL: $run run's final weights differ from the straight run's"; fail=1; fi
  check_log_steps "$TMP/$run" || fail=1
done
# A fresh run (no --resume) into a folder that holds an earlier run refuses, naming what it would
# overwrite, and leaves it as it was; with --overwrite it starts clean: a fresh log, none of the earlier
# run's epoch_NNN files.
sum_before=$(md5sum < "$TMP/straight/checkpoint.safetensors")
rc=0; "$BIN" "${ARGS[@]}" --max-steps 2 --out "$TMP/straight" > "$TMP/fresh1.txt" 2>&1 || rc=$?
if [ "$rc" != 0 ] && grep -q "holds another run (checkpoint.safetensors, encoder.safetensors, .*epoch_003.safetensors" "$TMP/fresh1.txt" &&
   grep -q -- "--overwrite" "$TMP/fresh1.txt" && [ "$(md5sum < "$TMP/straight/checkpoint.safetensors")" = "$sum_before" ] &&
   [ "$(grep -c '"type":"step"' "$TMP/straight/log.jsonl")" = 15 ]; then
  echo "ok: a fresh run into a used folder refuses, naming the files, and changes nothing"
else echo "FAIL: a fresh run into a used folder did not refuse (exit $rc):"; cat "$TMP/fresh1.txt"; fail=1; fi
"$BIN" "${ARGS[@]}" --max-steps 2 --overwrite --out "$TMP/straight" > "$TMP/fresh2.txt"
n=$(grep -c '"type":"step"' "$TMP/straight/log.jsonl")
left=$(ls "$TMP/straight" | grep -c '^epoch_' || true)
if [ "$n" = 2 ] && [ "$left" = 0 ]; then echo "ok: --overwrite starts clean: only its own 2 steps logged, no older epoch files"
else echo "FAIL: --overwrite left $n step lines in the log (expected 2) and $left epoch files (expected 0)"; fail=1; fi
exit $fail
