#!/usr/bin/env bash
# resa_cifar under mpirun (2 ranks): the run's header and final table are printed once; SIGUSR1 sent to
# mpirun (which forwards it to every rank) stops both ranks at one step with a checkpoint and exit
# status 138, and --resume ends bit-exact with the uninterrupted 2-rank run; a checkpoint that fails on
# rank 0 (a file size limit on the ranks) ends the job with the error instead of leaving rank 1 waiting.
# Usage: test_resume_mpi.sh <mpiexec> <resa_cifar binary> <scratch dir>
set -euo pipefail
MPI=$1
BIN=$2
TMP=$3
source "$(dirname "$0")/resume_lib.sh"
require_fashion_mnist
rm -rf "$TMP" && mkdir -p "$TMP"
RUN=("$MPI" -np 2 --oversubscribe --allow-run-as-root)
set_run_args 1
fail=0

"${RUN[@]}" "$BIN" "${ARGS[@]}" --out "$TMP/straight" > "$TMP/straight.txt" 2>&1
n_header=$(grep -c "steps/epoch x 3 epochs" "$TMP/straight.txt" || true)
n_table=$(grep -c "^| encoder |" "$TMP/straight.txt" || true)
if [ "$n_header" = 1 ] && [ "$n_table" = 1 ]; then echo "ok: 2 ranks print the header and the final table once"
else echo "FAIL: 2 ranks printed the header $n_header times and the table $n_table times"; fail=1; fi

"${RUN[@]}" "$BIN" "${ARGS[@]}" --out "$TMP/usr1" > "$TMP/usr1_1.txt" 2>&1 &
pid=$!
wait_step "$TMP/usr1" 7
kill -USR1 $pid
rc=0; wait $pid || rc=$?
[ "$rc" = 138 ] || { echo "FAIL: SIGUSR1 to mpirun: exit $rc, expected 138"; cat "$TMP/usr1_1.txt"; exit 1; }
n=$(grep -c "stopped at step" "$TMP/usr1_1.txt" || true)
[ "$n" = 1 ] || { echo "FAIL: $n 'stopped at step' messages (expected 1, from rank 0)"; cat "$TMP/usr1_1.txt"; exit 1; }
"${RUN[@]}" "$BIN" "${ARGS[@]}" --out "$TMP/usr1" --resume > "$TMP/usr1_2.txt" 2>&1
if grep -q "resumed at step" "$TMP/usr1_2.txt" && same_end "$TMP/straight" "$TMP/usr1"; then
  echo "ok: SIGUSR1 to mpirun stopped both ranks (status 138); the resume is bit-exact"
else echo "FAIL: the SIGUSR1 run did not resume to the straight run's weights"; fail=1; fi

# The ranks resume the stopped run under a 600 KB file size limit: rank 0's checkpoint save at the end
# of epoch 2 fails; the job must end (not hang in rank 1's barrier) with the error, the checkpoint intact.
"${RUN[@]}" "$BIN" "${ARGS[@]}" --out "$TMP/disk" > "$TMP/disk1.txt" 2>&1 &
pid=$!
wait_step "$TMP/disk" 7
kill -USR1 $pid
wait $pid || true
sum_before=$(md5sum < "$TMP/disk/checkpoint.safetensors")
rc=0
timeout 300 "${RUN[@]}" bash -c 'trap "" XFSZ; ulimit -f 600; exec "$@"' limited "$BIN" "${ARGS[@]}" --out "$TMP/disk" --resume \
  > "$TMP/disk2.txt" 2>&1 || rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "checkpoint.safetensors.tmp: write failed" "$TMP/disk2.txt" &&
   [ "$(md5sum < "$TMP/disk/checkpoint.safetensors")" = "$sum_before" ]; then
  echo "ok: a failed checkpoint under mpirun ends the job with the error; the previous checkpoint is intact"
else echo "FAIL: the failed checkpoint under mpirun (exit $rc):"; tail -20 "$TMP/disk2.txt"; fail=1; fi
exit $fail
