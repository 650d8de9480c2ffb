#!/usr/bin/env bash
# Runs the test suite again under every GEMM backend / OpenBLAS kernel this CPU can run, so that no
# tolerance rests on one machine's summation order: our Eigen GEMM (RESA_GEMM=eigen) and OpenBLAS forced
# to the Prescott (SSE3), Nehalem, Sandybridge (AVX), Haswell (AVX2), Zen and, where the CPU has
# AVX-512, SkylakeX kernels. Our own hot loops (ops/cpu/isa.h) run in the version such a CPU would pick:
# baseline with the pre-AVX2 cores, avx2 with Haswell and Zen, and the default (the widest) otherwise.
# Expects a build from tools/test.sh (BUILD, default build). The layer probes and the resume test do not
# depend on the kernels and run once, in tools/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
settings=("RESA_GEMM=eigen" "OPENBLAS_CORETYPE=Prescott RESA_CPU_ISA=baseline"
          "OPENBLAS_CORETYPE=Nehalem RESA_CPU_ISA=baseline" "OPENBLAS_CORETYPE=Sandybridge RESA_CPU_ISA=baseline"
          "OPENBLAS_CORETYPE=Haswell RESA_CPU_ISA=avx2" "OPENBLAS_CORETYPE=Zen RESA_CPU_ISA=avx2")
grep -q avx512f /proc/cpuinfo && settings+=("OPENBLAS_CORETYPE=SkylakeX")
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
failed=()
for s in "${settings[@]}"; do
  echo "== tests with $s"
  # shellcheck disable=SC2086  # a setting may hold two assignments
  if ! env $s ctest --test-dir "$BUILD" --output-on-failure --parallel "$(nproc)" -E 'test_layers|test_resume'; then
    failed+=("$s")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "tests failed under: ${failed[*]}"
  exit 1
fi
echo "tests pass under every kernel setting: $(printf "[%s] " "${settings[@]}")"
