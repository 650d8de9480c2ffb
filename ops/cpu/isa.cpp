#include "resa/ops/cpu/isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "resa/core/error.h"

namespace resa::cpu {
namespace baseline {
const IsaKernelTable& kernel_table();
}
namespace avx2 {
const IsaKernelTable& kernel_table();
}
namespace avx512 {
const IsaKernelTable& kernel_table();
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
    default:
      return "baseline";
  }
}

bool isa_runs(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  switch (isa) {
    case Isa::Baseline:
      return true;
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::Avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  }
  return false;
#else
  return isa == Isa::Baseline;
#endif
}

const IsaKernelTable& isa_kernel_table(Isa isa) {
  switch (isa) {
    case Isa::Avx2:
      return avx2::kernel_table();
    case Isa::Avx512:
      return avx512::kernel_table();
    default:
      return baseline::kernel_table();
  }
}

namespace {

Isa initial_isa() {
  if (const char* env = std::getenv("RESA_CPU_ISA"); env && *env) {
    for (Isa isa : {Isa::Baseline, Isa::Avx2, Isa::Avx512})
      if (std::strcmp(env, isa_name(isa)) == 0) {
        RESA_CHECK(isa_runs(isa), "RESA_CPU_ISA={}: this CPU cannot run the {} kernels", env, env);
        return isa;
      }
    RESA_FAIL("RESA_CPU_ISA={}: expected baseline, avx2 or avx512", env);
  }
  for (Isa isa : {Isa::Avx512, Isa::Avx2})
    if (isa_runs(isa)) return isa;
  return Isa::Baseline;
}

std::atomic<Isa>& active() {
  static std::atomic<Isa> isa{initial_isa()};
  return isa;
}

}  // namespace

Isa active_isa() { return active().load(std::memory_order_relaxed); }

void set_active_isa(Isa isa) {
  RESA_CHECK(isa_runs(isa), "set_active_isa: this CPU cannot run the {} kernels", isa_name(isa));
  active().store(isa, std::memory_order_relaxed);
}

template <>
const IsaKernels<float>& isa_kernels<float>() {
  return isa_kernel_table(active_isa()).f32;
}
template <>
const IsaKernels<double>& isa_kernels<double>() {
  return isa_kernel_table(active_isa()).f64;
}

}  // namespace resa::cpu
