// Counter-based random numbers (Philox-4x32-10). Element i of a draw depends only on (seed, offset + i),
// so the same seed gives the same numbers whatever the number of threads, and on every device.
#pragma once
#include <array>
#include <cstdint>

#include "resa/core/tensor.h"

namespace resa {

// One Philox-4x32-10 block: four 32-bit outputs for a 128-bit counter and a 64-bit key.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, uint64_t key);

// A seed and a position in its stream. Each draw of n numbers consumes n counter values (rounded up
// to a multiple of 4), so consecutive draws never overlap.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves n consecutive counters and returns the first.
  uint64_t advance(uint64_t n) {
    uint64_t start = offset_;
    offset_ += (n + 3) / 4 * 4;
    return start;
  }
  // Scalar draws on the host (for augmentations, shuffles): uniform in [0, 1), uniform integer in [0, n).
  double uniform();
  uint64_t randint(uint64_t n);

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

// uniform float in [0, 1) from a 32-bit draw (24 mantissa bits), and double from 64 bits.
inline float uint_to_unit_float(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }
inline double uint_to_unit_double(uint32_t hi, uint32_t lo) {
  uint64_t v = (static_cast<uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(v & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

// Tensors of uniform [low, high) and normal(mean, std) numbers.
Tensor rand(const Shape& shape, const TensorOptions& opts = {}, Generator* gen = nullptr);
Tensor randn(const Shape& shape, const TensorOptions& opts = {}, Generator* gen = nullptr);
Tensor uniform(const Shape& shape, double low, double high, const TensorOptions& opts = {}, Generator* gen = nullptr);
Tensor normal(const Shape& shape, double mean, double std, const TensorOptions& opts = {}, Generator* gen = nullptr);
// A random permutation of 0..n-1 (int64), Fisher-Yates on the generator's stream.
Tensor randperm(int64_t n, Generator* gen = nullptr);

}  // namespace resa
