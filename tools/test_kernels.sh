#!/usr/bin/env bash
# Runs the test suite again under every GEMM backend / OpenBLAS kernel this CPU can run, so that no
# tolerance rests on one machine's summation order: our Eigen GEMM (RESA_GEMM=eigen) and OpenBLAS forced
# to the Prescott (SSE3), Nehalem, Sandybridge (AVX), Haswell (AVX2), Zen and, where the CPU has
# AVX-512, SkylakeX kernels. Expects a build from tools/test.sh (BUILD, default build). The layer probes
# and the resume test do not depend on the kernels and run once, in tools/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
settings=("RESA_GEMM=eigen" "OPENBLAS_CORETYPE=Prescott" "OPENBLAS_CORETYPE=Nehalem"
          "OPENBLAS_CORETYPE=Sandybridge" "OPENBLAS_CORETYPE=Haswell" "OPENBLAS_CORETYPE=Zen")
grep -q avx512f /proc/cpuinfo && settings+=("OPENBLAS_CORETYPE=SkylakeX")
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
failed=()
for s in "${settings[@]}"; do
  echo "== tests with $s"
  if ! env "$s" ctest --test-dir "$BUILD" --output-on-failure --parallel "$(nproc)" -E 'test_layers|test_resume'; then
    failed+=("$s")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "tests failed under: ${failed[*]}"
  exit 1
fi
echo "tests pass under every kernel setting: ${settings[*]}"
