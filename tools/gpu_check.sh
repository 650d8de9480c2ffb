#!/usr/bin/env bash
# The GPU check, in one call, well under 8 minutes on a GPU machine that has nvcc, cmake and a C++
# compiler but no internet and no apt:
#   1. configure + build the CUDA backend for sm_90 only (build-gpu; ninja if present, else make -j16),
#      only the targets this check runs (test_cuda, test_cuda_conv, bench_gpu, resa_bench);
#   2. the CUDA tests (ctest -R cuda: test_cuda and test_cuda_conv);
#   3. compute-sanitizer memcheck on a subset of them (elementwise/reduce/GEMM, then conv/pool/batch norm);
#   4. the sgemm benchmark (resa::matmul on CUDA tensors vs raw cuBLAS, fp32 and TF32);
#   5. the ResNet-18 CIFAR ReSA step (two views + EMA teacher, SGD) at batch 256: apps/resa_bench vs
#      PyTorch eager (bench/resa_torch.py) on the same GPU, fp32 and TF32, with peak GPU memory
#      (ours: the caching allocator's peak; PyTorch: torch.cuda.max_memory_allocated);
# and prints a summary table last. Without a GPU (a CPU machine) it builds, and the CUDA tests skip.
#
# Dependencies come from third_party/cuda-deps/root (made by tools/prepare_gpu_deps.sh; unpacked here
# from third_party/cuda-deps/root.tar.xz when only the archive was carried), else from the system.
#
# Environment: BUILD (default build-gpu), CUDA_ARCH (default 90), JOBS (default 16),
# RESA_DEPS_ONLY=1 to hide the system's /usr prefix from CMake's searches (to test that the deps folder
# is self-sufficient), BENCH_ARGS (default "--sizes 1024,2048,4096 --tf32"),
# SANITIZE_FILTER / SANITIZE_CONV_FILTER (doctest -tc filters for the two memcheck runs),
# STEP_BATCH (default 256) and STEP_RUNS (default 10) for the ResNet-18 step, TORCH_PY (default python3),
# SKIP_TORCH=1 to leave PyTorch out.
# Logs go to $BUILD/gpu_check/ and, when $OUT is set, to $OUT too.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
BUILD=${BUILD:-build-gpu}
CUDA_ARCH=${CUDA_ARCH:-90}
JOBS=${JOBS:-16}
BENCH_ARGS=${BENCH_ARGS:-"--sizes 1024,2048,4096 --tf32"}
SANITIZE_FILTER=${SANITIZE_FILTER:-"cuda: broadcasting*,cuda: reductions*,cuda: matmul*,cuda: copies*,cuda: the same autograd*"}
SANITIZE_CONV_FILTER=${SANITIZE_CONV_FILTER:-"cuda: conv2d forward and backward at odd sizes,cuda: max and avg pooling*,cuda: batch norm*"}
STEP_BATCH=${STEP_BATCH:-256}
STEP_RUNS=${STEP_RUNS:-10}
TORCH_PY=${TORCH_PY:-python3}
LOGS=$BUILD/gpu_check
mkdir -p "$LOGS"
T_START=$(date +%s)
declare -a SUMMARY=()

note() { echo "== gpu_check: $*"; }
# step NAME TIMEOUT_S CMD...: runs a step with a time limit, logs it, records status and seconds.
step() {
  local name=$1 limit=$2
  shift 2
  local t0 rc status
  t0=$(date +%s)
  note "$name: $*"
  timeout "$limit" "$@" 2>&1 | tee "$LOGS/$name.log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 0 ]; then status=ok; elif [ "$rc" -eq 124 ]; then status="TIMEOUT(${limit}s)"; else status="FAILED(rc=$rc)"; fi
  SUMMARY+=("$(printf '%-16s | %-16s | %5ss' "$name" "$status" "$(($(date +%s) - t0))")")
  [ -n "${OUT:-}" ] && cp "$LOGS/$name.log" "$OUT/" 2>/dev/null
  return "$rc"
}
skip() { SUMMARY+=("$(printf '%-16s | %-16s | %5s' "$1" "skipped: $2" "-")"); note "$1 skipped: $2"; }

# ---- dependencies ----
DEPS=$REPO/third_party/cuda-deps/root
if [ ! -d "$DEPS" ] && [ -f "$REPO/third_party/cuda-deps/root.tar.xz" ]; then
  note "unpacking third_party/cuda-deps/root.tar.xz"
  tar -C "$REPO/third_party/cuda-deps" -xJf "$REPO/third_party/cuda-deps/root.tar.xz"
fi
CMAKE_DEPS=()
if [ -d "$DEPS" ]; then
  note "dependencies from $DEPS"
  MA=x86_64-linux-gnu
  export PATH="$DEPS/usr/bin:$PATH"
  export PKG_CONFIG_LIBDIR="$DEPS/usr/lib/$MA/pkgconfig:$DEPS/usr/share/pkgconfig"
  export PKG_CONFIG_SYSROOT_DIR="$DEPS"  # .pc files say /usr/...: prefix them with the folder
  export LD_LIBRARY_PATH="$DEPS/usr/lib/$MA:$DEPS/usr/lib/$MA/openblas-openmp:$DEPS/lib/$MA${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LIBRARY_PATH="$DEPS/usr/lib/$MA:$DEPS/lib/$MA${LIBRARY_PATH:+:$LIBRARY_PATH}"
  CMAKE_DEPS=(
    "-DCMAKE_PREFIX_PATH=$DEPS/usr"
    "-DPKG_CONFIG_EXECUTABLE=$DEPS/usr/bin/pkgconf"
    "-DRESA_CBLAS_INCLUDE_DIR=$DEPS/usr/include/$MA/openblas-openmp"
    "-DRESA_OPENBLAS_LIBRARY=$DEPS/usr/lib/$MA/openblas-openmp/libopenblas.so"
    "-DZLIB_ROOT=$DEPS/usr"
    "-DZLIB_INCLUDE_DIR=$DEPS/usr/include"
    "-DZLIB_LIBRARY=$DEPS/usr/lib/$MA/libz.so"
    "-DEigen3_DIR=$DEPS/usr/share/eigen3/cmake"
    "-Dfmt_DIR=$DEPS/usr/lib/$MA/cmake/fmt"
    "-Dnlohmann_json_DIR=$DEPS/usr/share/cmake/nlohmann_json"
    "-Ddoctest_DIR=$DEPS/usr/lib/cmake/doctest"
    "-DCLI11_DIR=$DEPS/usr/share/cmake/CLI11"
  )
  if [ "${RESA_DEPS_ONLY:-0}" = 1 ]; then
    note "RESA_DEPS_ONLY=1: CMake ignores the /usr prefix"
    CMAKE_DEPS+=("-DCMAKE_IGNORE_PREFIX_PATH=/usr;/usr/local" "-DCMAKE_SYSTEM_IGNORE_PREFIX_PATH=/usr;/usr/local")
    # ccache (if any) is still welcome: name it so that CMake need not search /usr for it.
    command -v ccache >/dev/null && CMAKE_DEPS+=("-DCCACHE_PROGRAM=$(command -v ccache)")
  fi
else
  note "no third_party/cuda-deps: using the system's packages"
fi

NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
GEN=()
BUILD_ARGS=()
if command -v ninja >/dev/null; then GEN=(-G Ninja); BUILD_ARGS=(-j "$JOBS"); else GEN=(-G "Unix Makefiles"); BUILD_ARGS=(-j "$JOBS"); fi
[ -x "$NVCC" ] && note "nvcc: $("$NVCC" --version | tail -1)"
note "cmake: $(cmake --version | head -1)"

# ---- 1. configure + build ----
if ! step configure 180 cmake -S . -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DRESA_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" "${CMAKE_DEPS[@]}"; then
  BUILD_OK=0
elif ! step build "${BUILD_TIMEOUT:-420}" cmake --build "$BUILD" --target test_cuda test_cuda_conv bench_gpu resa_bench -- "${BUILD_ARGS[@]}"; then
  BUILD_OK=0
else
  BUILD_OK=1
fi

HAVE_GPU=0
if [ "$BUILD_OK" = 1 ]; then
  # The engine's own answer (0 without driver or device), through the bench binary's startup.
  if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then HAVE_GPU=1; fi
  [ "$HAVE_GPU" = 1 ] && note "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"

  # ---- 2. CUDA tests ----
  step tests 240 ctest --test-dir "$BUILD" -R cuda -V --timeout 200

  # ---- 3. compute-sanitizer on a subset ----
  SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
  if [ "$HAVE_GPU" != 1 ]; then
    skip memcheck "no GPU"
  elif [ -z "$SAN" ]; then
    skip memcheck "no compute-sanitizer"
  else
    # The caching allocator keeps freed blocks, so memcheck sees out-of-bounds accesses beyond a block
    # (blocks are rounded to 512 bytes or 1/8 of a power of two) but not use-after-free inside the cache.
    step memcheck 200 "$SAN" --tool memcheck --error-exitcode 99 --leak-check no \
      "$BUILD/tests/test_cuda" -tc="$SANITIZE_FILTER"
    step memcheck_conv 200 "$SAN" --tool memcheck --error-exitcode 99 --leak-check no \
      "$BUILD/tests/test_cuda_conv" -tc="$SANITIZE_CONV_FILTER"
  fi

  # ---- 4. sgemm benchmark ----
  if [ "$HAVE_GPU" = 1 ]; then
    # shellcheck disable=SC2086
    step bench 180 "$BUILD/apps/bench_gpu" $BENCH_ARGS
  else
    step bench 60 "$BUILD/apps/bench_gpu" --sizes 64 --iters 1
  fi

  # ---- 5. ResNet-18 ReSA step: ours vs PyTorch eager, fp32 and TF32 ----
  STEP_ARGS=(--arch resnet18 --batch "$STEP_BATCH" --image 32 --runs "$STEP_RUNS")
  if [ "$HAVE_GPU" = 1 ]; then
    step step_ours 150 "$BUILD/apps/resa_bench" "${STEP_ARGS[@]}" --device cuda
    step step_ours_tf32 150 "$BUILD/apps/resa_bench" "${STEP_ARGS[@]}" --device cuda --tf32
    if [ "${SKIP_TORCH:-0}" = 1 ]; then
      skip step_torch "SKIP_TORCH=1"
    elif ! "$TORCH_PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
      skip step_torch "no PyTorch with CUDA in $TORCH_PY"
    else
      TORCH_ARGS=(--arch resnet18 --batch "$STEP_BATCH" --image 32 --device cuda --steps "$STEP_RUNS" --threads 8)
      step step_torch 150 "$TORCH_PY" bench/resa_torch.py "${TORCH_ARGS[@]}"
      step step_torch_tf32 150 "$TORCH_PY" bench/resa_torch.py "${TORCH_ARGS[@]}" --tf32
    fi
  else
    skip step_ours "no GPU"
  fi
fi

echo
echo "================ gpu_check summary ($(($(date +%s) - T_START))s total, sm_$CUDA_ARCH, build $BUILD) ================"
printf '%-16s | %-16s | %6s\n' step status time
for line in "${SUMMARY[@]}"; do echo "$line"; done
if [ -f "$LOGS/tests.log" ]; then
  echo "tests: $(grep -E '\[doctest\] (test cases|assertions)' "$LOGS/tests.log" | tr -s ' ' | paste -sd';' -)" \
    "$(grep -q 'no CUDA device: skipped' "$LOGS/tests.log" && echo '(CUDA cases SKIPPED: no device)')"
fi
[ -f "$LOGS/memcheck.log" ] && echo "memcheck: $(grep -E 'ERROR SUMMARY' "$LOGS/memcheck.log" | tail -1)"
[ -f "$LOGS/memcheck_conv.log" ] && echo "memcheck (conv/pool/batch norm): $(grep -E 'ERROR SUMMARY' "$LOGS/memcheck_conv.log" | tail -1)"
if [ -f "$LOGS/bench.log" ]; then
  sed -n '/sgemm TFLOP\/s/,$p' "$LOGS/bench.log"
  grep -q "skipped" "$LOGS/bench.log" && grep "bench_gpu:" "$LOGS/bench.log"
fi
# The ResNet-18 step: the JSON line each benchmark prints last.
json_field() {  # json_field LOG FIELD: the field of the last JSON line of LOG, or n/a
  [ -f "$LOGS/$1.log" ] || { echo n/a; return; }
  grep '^{' "$LOGS/$1.log" | tail -1 | sed -n "s/.*\"$2\": *\([^,}]*\).*/\1/p" | tr -d '"' | grep . || echo n/a
}
if [ -f "$LOGS/step_ours.log" ]; then
  echo "ResNet-18 CIFAR ReSA step, batch $STEP_BATCH x 2 views + EMA teacher, median of $STEP_RUNS (ms; peak GPU MB):"
  printf '  %-6s | %-22s | %-22s | %s\n' mode "ours (ms, MB)" "PyTorch eager (ms, MB)" "ours/PyTorch"
  for mode in fp32 tf32; do
    suffix=""; [ "$mode" = tf32 ] && suffix=_tf32
    o_ms=$(json_field "step_ours$suffix" ms_per_step); o_mb=$(json_field "step_ours$suffix" peak_gpu_mb)
    t_ms=$(json_field "step_torch$suffix" ms_per_step); t_mb=$(json_field "step_torch$suffix" peak_gpu_mb)
    ratio=$(awk -v a="$o_ms" -v b="$t_ms" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "n/a" }')
    printf '  %-6s | %9.9s ms %7.7s MB | %9.9s ms %7.7s MB | %s\n' "$mode" "$o_ms" "$o_mb" "$t_ms" "$t_mb" "$ratio"
  done
fi
FAILED=0
for line in "${SUMMARY[@]}"; do case "$line" in *FAILED*|*TIMEOUT*) FAILED=1 ;; esac; done
[ -n "${OUT:-}" ] && printf '%s\n' "${SUMMARY[@]}" > "$OUT/gpu_check_summary.txt"
exit "$FAILED"
