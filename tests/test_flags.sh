#!/usr/bin/env bash
# Every bad flag value of resa_cifar (and of resa_bench, resa_eval, resa_cluster and resa_embed, when
# given) is refused before any training or timing starts, with a message that names the flag and the
# values allowed. One row per case: the arguments, then a text the message must hold.
# Usage: test_flags.sh <resa_cifar> <scratch dir> [<resa_bench> [<resa_eval> <resa_cluster> <resa_embed> <encoder file>]]
set -uo pipefail
BIN=$1
TMP=$2
BENCH=${3:-}
EVAL=${4:-}
CLUSTER=${5:-}
EMBED=${6:-}
ENCODER=${7:-}
DATA=/usr/share/datasets/fashion-mnist
rm -rf "$TMP" && mkdir -p "$TMP"
BASE=(--dataset fashion-mnist --arch resnet_small --width 8 --mlp 64-64-32 --train-subset 320 --eval-subset 200
      --batch-size 64 --epochs 1 --probe-epochs 0 --threads 2 --workers 1)
# args ... | expected text in the message
CASES=(
  "--lr -1|--lr -1: must be >= 0"
  "--lr nan|--lr nan: must be >= 0"
  "--wd -5|--wd -5: must be >= 0"
  "--momentum 1.5|--momentum 1.5: must be in [0, 1)"
  "--momentum 1|--momentum 1: must be in [0, 1)"
  "--momentum -0.1|--momentum -0.1: must be in [0, 1)"
  "--byol-momentum 1|--byol-momentum 1: must be in [0, 1)"
  "--threads -3|--threads -3: must be >= 0"
  "--workers -1|--workers -1: must be >= 0"
  "--epochs 0|--epochs 0: must be >= 1"
  "--batch-size 1|--batch-size 1: must be >= 2"
  "--warmup-epochs -1|--warmup-epochs -1: must be >= 0"
  "--eval-every -1|--eval-every -1: must be >= 0"
  "--max-steps -1|--max-steps -1: must be >= 0"
  "--width -8|--width -8: must be >= 0"
  "--stem-padding 3|--stem-padding"
  "--temperature 0|--temperature 0: must be > 0"
  "--simclr-temperature -1|--simclr-temperature -1: must be > 0"
  "--swav-temperature 0|--swav-temperature 0: must be > 0"
  "--sinkhorn-eps 0|--sinkhorn-eps 0: must be > 0"
  "--sinkhorn-iters 0|--sinkhorn-iters 0: must be >= 1"
  "--swav-prototypes 0|--swav-prototypes 0: must be >= 1"
  "--swav-freeze-iters -1|--swav-freeze-iters -1: must be >= 0"
  "--byol-pred-hidden 0|--byol-pred-hidden 0: must be >= 1"
  "--vicreg-var -1|--vicreg-var -1: must be >= 0"
  "--mlp 64--32|--mlp '64--32': must be layer sizes"
  "--mlp abc|--mlp 'abc': must be layer sizes"
  "--method dino|--method"
  "--arch vgg|--arch"
  "--optimizer adam|--optimizer"
  "--device tpu|--device 'tpu': must be cpu, cuda or cuda:N"
  "--probe-epochs -1|--probe-epochs -1: must be >= 0"
  "--checkpoint-every-minutes -1|--checkpoint-every-minutes -1: must be >= 0"
  "--train-subset -5|--train-subset -5: must be >= 0"
  "--eval-subset 64|--eval-subset 64: must be 0 (all) or >= 200"
  "--eval-subset -1|--eval-subset -1: must be 0 (all) or >= 200"
  "--lr abc|--lr"
)
# The checks that need the dataset's size.
if [ -f "$DATA/train-images-idx3-ubyte.gz" ]; then
  CASES+=(
    "--train-subset 100000|--train-subset 100000: must be at most the 60000 training images"
    "--eval-subset 20000|--eval-subset 20000: must be at most 10000"
    "--batch-size 400|--batch-size 400: must be at most the 320 training images"
  )
fi
fail=0
i=0
for row in "${CASES[@]}"; do
  i=$((i + 1))
  read -r -a args <<< "${row%%|*}"
  want=${row#*|}
  out="$TMP/run$i"
  rc=0
  msg=$(timeout 120 "$BIN" "${BASE[@]}" --out "$out" "${args[@]}" 2>&1) || rc=$?
  if [ "$rc" = 0 ] || [ "$rc" = 124 ]; then
    echo "FAIL: ${args[*]} exited $rc (expected a refusal)"; fail=1
  elif ! grep -qF -- "$want" <<< "$msg"; then
    echo "FAIL: ${args[*]}: the message does not say '$want':"; echo "$msg" | head -5; fail=1
  elif grep -q '"type":"step"' "$out/log.jsonl" 2>/dev/null; then
    echo "FAIL: ${args[*]} trained before refusing"; fail=1
  else
    echo "ok: ${args[*]} -> $(head -1 <<< "$msg")"
  fi
done
# check_app NAME BINARY "BASE ARGS" CASE...: each case's arguments after the base ones must be refused
# with a message holding the case's text.
check_app() {
  local name=$1 bin=$2 base=$3
  shift 3
  local row args want rc msg
  for row in "$@"; do
    read -r -a args <<< "$base ${row%%|*}"
    want=${row#*|}
    rc=0
    msg=$(timeout 60 "$bin" "${args[@]}" 2>&1) || rc=$?
    if [ "$rc" = 0 ] || [ "$rc" = 124 ]; then
      echo "FAIL: $name ${args[*]} exited $rc (expected a refusal)"; fail=1
    elif ! grep -qF -- "$want" <<< "$msg"; then
      echo "FAIL: $name ${args[*]}: the message does not say '$want':"; echo "$msg" | head -5; fail=1
    else
      echo "ok: $name ${args[*]} -> $(head -1 <<< "$msg")"
    fi
  done
}
[ -n "$BENCH" ] || exit $fail
BENCH_CASES=(
  "--arch vgg|--arch"
  "--width -1|--width: value -1 must be >= 0"
  "--mlp 64--32|--mlp: '64--32' must be layer sizes"
  "--batch 1|--batch: value 1 must be >= 2"
  "--image 0|--image: value 0 must be >= 1"
  "--channels 0|--channels: value 0 must be >= 1"
  "--threads 0|--threads: value 0 must be >= 1"
  "--device tpu|--device: 'tpu' must be cpu, cuda or cuda:N"
  "--variant x|--variant"
  "--warmup -1|--warmup: value -1 must be >= 0"
  "--runs 0|--runs: value 0 must be >= 1"
  "--runs abc|--runs"
)
check_app resa_bench "$BENCH" "" "${BENCH_CASES[@]}"
[ -n "$EVAL" ] || exit $fail
check_app resa_eval "$EVAL" "--encoder $ENCODER --dataset fashion-mnist" \
  "--encoder $TMP/none.safetensors|--encoder: '$TMP/none.safetensors' is not a file" \
  "--arch vgg|--arch" \
  "--stem-padding 5|--stem-padding" \
  "--dataset imagenet|--dataset" \
  "--eval-subset 64|--eval-subset: value 64 must be 0 (all) or >= 200" \
  "--eval-subset -1|--eval-subset: value -1 must be 0 (all) or >= 200" \
  "--probe-epochs -1|--probe-epochs: value -1 must be >= 0" \
  "--device tpu|--device: 'tpu' must be cpu, cuda or cuda:N" \
  "--threads -3|--threads: value -3 must be >= 0"
check_app resa_cluster "$CLUSTER" "" \
  "--run $TMP|--run: '$TMP' holds no checkpoint.safetensors" \
  "--checkpoint $TMP/none.safetensors|--checkpoint: '$TMP/none.safetensors' is not a file" \
  "--split val|--split" \
  "--samples -1|--samples: value -1 must be >= 0" \
  "--metric manhattan|--metric" \
  "--restarts 0|--restarts: value 0 must be >= 1" \
  "--device tpu|--device: 'tpu' must be cpu, cuda or cuda:N" \
  "--batch 0|--batch: value 0 must be >= 1" \
  "--threads -1|--threads: value -1 must be >= 0" \
  "--map-samples 5|--map-samples" \
  "--perplexity 0|--perplexity"
check_app resa_embed "$EMBED" "--images $TMP" \
  "--encoder $TMP/none.safetensors|--encoder: '$TMP/none.safetensors' is not a file" \
  "--encoder $ENCODER -k 0|-k" \
  "--encoder $ENCODER --batch 0|--batch" \
  "--encoder $ENCODER --tile 2|--tile" \
  "--encoder $ENCODER --device tpu|--device: 'tpu' must be cpu, cuda or cuda:N" \
  "--encoder $ENCODER --threads -1|--threads"
exit $fail
