# Shared by the tests that interrupt and resume resa_cifar (test_resume.sh, test_resume_mpi.sh,
# test_full_disk.sh): the small Fashion-MNIST run they all use and the checks of how it ended.
# Sourced, after `set -euo pipefail`.
DATA=/usr/share/datasets/fashion-mnist

# Ends the test with SKIP where the dataset is not installed.
require_fashion_mnist() {
  if [ ! -f "$DATA/train-images-idx3-ubyte.gz" ]; then
    echo "SKIP: Fashion-MNIST is not installed ($DATA; apt-get install dataset-fashion-mnist)"
    exit 0
  fi
}

# Sets ARGS to the run: 3 epochs of 5 steps (15 in all), evaluated after each epoch; $1 threads and loader
# workers.
set_run_args() {
  ARGS=(--dataset fashion-mnist --arch resnet_small --width 8 --mlp 64-64-32 --train-subset 320 --eval-subset 200
        --batch-size 64 --epochs 3 --warmup-epochs 1 --eval-every 1 --probe-epochs 0 --threads "$1" --workers "$1"
        --seed 5)
}

# Waits (at most 60 s) until step $2 is in the log of run folder $1.
wait_step() {
  for _ in $(seq 600); do
    [ -f "$1/log.jsonl" ] && grep -q "\"step\":$2," "$1/log.jsonl" && return 0
    sleep 0.1
  done
  echo "FAIL: step $2 never reached in $1"; exit 1
}

# The tensor bytes of a safetensors file (after its 8-byte length and JSON header; the header's metadata
# names the run's own output folder, so it differs between runs).
tensor_bytes() { local n; n=$(od -An -t u8 -N8 "$1" | tr -d ' '); tail -c +$((n + 9)) "$1"; }

# Succeeds when run folders $1 and $2 ended with the same encoder file and the same checkpoint tensors
# (weights, optimizer state, teacher).
same_end() {
  cmp -s "$1/encoder.safetensors" "$2/encoder.safetensors" &&
    cmp -s <(tensor_bytes "$1/checkpoint.safetensors") <(tensor_bytes "$2/checkpoint.safetensors")
}

# Prints whether the log of run folder $1 holds steps 1..15 once each (a resumed log continues, it does
# not repeat or skip); returns 1 when it does not.
check_log_steps() {
  local n steps
  n=$(grep -c '"type":"step"' "$1/log.jsonl")
  steps=$(grep '"type":"step"' "$1/log.jsonl" | grep -o '"step":[0-9]*' | sort -u | wc -l)
  if [ "$n" = 15 ] && [ "$steps" = 15 ]; then echo "ok: $(basename "$1") log has steps 1..15 once each"
  else echo "FAIL: $(basename "$1") log has $n step lines, $steps distinct (expected 15)"; return 1; fi
}
