// Helpers of the CUDA tests (tests/test_cuda*.cpp): skip without a device, random CPU inputs, and the
// GPU-against-CPU comparison every case uses.
#pragma once
#include <string>

#include "test_util.h"

namespace resa::test {

// Ends the test case with a message where there is no CUDA device (CPU-only build or no GPU).
#define SKIP_WITHOUT_CUDA()               \
  do {                                    \
    if (resa::cuda_device_count() == 0) { \
      MESSAGE("no CUDA device: skipped"); \
      return;                             \
    }                                     \
  } while (0)

inline const Device kGPU = cuda_device(0);

inline Tensor randn_cpu(const Shape& s, uint64_t seed, DType dt = DType::Float32) {
  Generator g(seed);
  return randn(s, TensorOptions().dtype(dt), &g);
}

// Checks a CUDA result against the CPU one: same dtype and shape, max relative error <= tol.
inline void check_close(const Tensor& gpu, const Tensor& cpu, double tol = 1e-5, const std::string& what = "") {
  INFO(what);
  REQUIRE(gpu.defined());
  REQUIRE(cpu.defined());
  CHECK(gpu.device().is_cuda());
  CHECK(gpu.dtype() == cpu.dtype());
  REQUIRE(gpu.shape() == cpu.shape());
  const double err = max_rel_error(gpu.to(kCPU), cpu);
  INFO("shape " << shape_str(cpu.shape()) << " rel error " << err);
  CHECK(err <= tol);
}

}  // namespace resa::test
