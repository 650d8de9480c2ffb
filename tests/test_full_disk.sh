#!/usr/bin/env bash
# A run whose disk fills up (a real ENOSPC, on a 4 MB tmpfs mounted in a user + mount namespace, so no
# root is needed): the run ends with an error that names the file it could not write and "No space
# left on device", leaves no temporary file, and once space is freed --resume continues from the last
# checkpoint to the same weights as an uninterrupted run (bit for bit on the CPU). Skips where user
# namespaces are not allowed. (tests/test_resume.sh covers the same paths with ulimit -f everywhere.)
# Usage: test_full_disk.sh <resa_cifar binary> <scratch dir>
set -euo pipefail
BIN=$(realpath "$1")
TMP=$2
source "$(dirname "$0")/resume_lib.sh"
require_fashion_mnist
if [ "${RESA_IN_NAMESPACE:-}" != 1 ]; then
  if ! unshare --user --map-root-user --mount true 2> /dev/null; then
    echo "SKIP: user namespaces are not allowed here (no tmpfs to fill); test_resume covers ulimit -f"
    exit 0
  fi
  rm -rf "$TMP" && mkdir -p "$TMP/disk"
  RESA_IN_NAMESPACE=1 exec unshare --user --map-root-user --mount bash "$0" "$BIN" "$TMP"
fi
mount -t tmpfs -o size=4m tmpfs "$TMP/disk"
set_run_args 2
"$BIN" "${ARGS[@]}" --out "$TMP/straight" > "$TMP/straight.txt"

# Fill the disk once epoch 1's checkpoint is written and step 7 logged: the next write that needs space
# (a log line once its page is full, or epoch 2's checkpoint) fails.
"$BIN" "${ARGS[@]}" --out "$TMP/disk/run" > "$TMP/run1.txt" 2>&1 &
pid=$!
wait_step "$TMP/disk/run" 7
dd if=/dev/zero of="$TMP/disk/filler" bs=16k 2> /dev/null || true
rc=0; wait $pid || rc=$?
fail=0
if [ "$rc" = 1 ] && grep -q "error: .*\(log.jsonl\|checkpoint.safetensors.tmp\|encoder.*.safetensors.tmp\|curves.png\).*No space left on device" "$TMP/run1.txt" &&
   ! ls "$TMP/disk/run/"*.tmp > /dev/null 2>&1; then
  echo "ok: a full disk ends the run with: $(grep error: "$TMP/run1.txt" | head -1 | cut -c1-160)"
else
  echo "FAIL: on a full disk the run exited $rc:"; tail -5 "$TMP/run1.txt"; ls -la "$TMP/disk/run"; fail=1
fi
rm -f "$TMP/disk/filler"
"$BIN" "${ARGS[@]}" --out "$TMP/disk/run" --resume > "$TMP/run2.txt" 2>&1 || { echo "FAIL: the resume failed"; tail -5 "$TMP/run2.txt"; exit 1; }
if grep -q "resumed at step" "$TMP/run2.txt" && same_end "$TMP/straight" "$TMP/disk/run"; then
  echo "ok: after freeing space, $(grep -o 'resumed at step [0-9]*' "$TMP/run2.txt") ends bit-identical to the straight run"
else
  echo "FAIL: the resumed run's weights differ from the straight run's"; fail=1
fi
check_log_steps "$TMP/disk/run" || fail=1
exit $fail
