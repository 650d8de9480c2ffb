#include "resa/core/rng.h"

#include <cmath>

#include "resa/core/parallel.h"

namespace resa {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c, uint64_t key) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = static_cast<uint64_t>(kMul0) * c[0];
    uint64_t p1 = static_cast<uint64_t>(kMul1) * c[2];
    uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c = {hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0};
    k0 += kW0;
    k1 += kW1;
  }
  return c;
}

namespace {
// Four 32-bit draws for counter position `block` (a multiple-of-4 index divided by 4).
inline std::array<uint32_t, 4> block_at(uint64_t seed, uint64_t block) {
  return philox4x32({static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0u, 0u}, seed);
}
}  // namespace

double Generator::uniform() {
  uint64_t start = advance(2);
  auto r = block_at(seed_, start / 4);
  return uint_to_unit_double(r[0], r[1]);
}

uint64_t Generator::randint(uint64_t n) {
  RESA_CHECK(n > 0, "[randint] n must be positive");
  // Rejection sampling on 64-bit draws, so every value is equally likely.
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  while (true) {
    uint64_t start = advance(2);
    auto r = block_at(seed_, start / 4);
    uint64_t v = (static_cast<uint64_t>(r[0]) << 32) | r[1];
    if (v < limit) return v % n;
  }
}

Generator& default_generator() {
  static Generator g(0);
  return g;
}

void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

namespace {

// Fills n values: element i uses 32-bit word i of the stream (uniform) or words 2i, 2i+1 (normal, via
// Box-Muller on a pair), so results do not depend on how the loop is split across threads.
template <typename T>
void fill_uniform(T* out, int64_t n, uint64_t seed, uint64_t start, double low, double high) {
  parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      uint64_t w = start + static_cast<uint64_t>(i);
      auto r = block_at(seed, w / 4);
      double u = uint_to_unit_float(r[w % 4]);
      out[i] = static_cast<T>(low + (high - low) * u);
    }
  });
}

template <typename T>
void fill_normal(T* out, int64_t n, uint64_t seed, uint64_t start, double mean, double stdev) {
  parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      uint64_t w = start + 2 * static_cast<uint64_t>(i);  // start is a multiple of 4, so w, w+1 share a block
      auto r = block_at(seed, w / 4);
      double u1 = (static_cast<double>(r[w % 4] >> 8) + 1.0) * (1.0 / 16777217.0);  // (0, 1]
      double u2 = static_cast<double>(r[w % 4 + 1] >> 8) * (1.0 / 16777216.0);
      double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
      out[i] = static_cast<T>(mean + stdev * z);
    }
  });
}

Tensor random_tensor(const Shape& shape, const TensorOptions& opts, Generator* gen, bool normal, double a, double b) {
  RESA_CHECK(is_floating(opts.dtype_), "[rand] dtype must be floating, got {}", dtype_name(opts.dtype_));
  Generator& g = gen ? *gen : default_generator();
  Tensor t = Tensor::empty(shape, opts.dtype_, kCPU);
  int64_t n = t.numel();
  uint64_t start = g.advance(static_cast<uint64_t>(normal ? 2 * n : n));
  RESA_DISPATCH_FLOAT(opts.dtype_, "rand", [&] {
    if (normal)
      fill_normal(t.data<scalar_t>(), n, g.seed(), start, a, b);
    else
      fill_uniform(t.data<scalar_t>(), n, g.seed(), start, a, b);
  });
  if (!opts.device_.is_cpu()) t = copy_contiguous_to(t, opts.device_);
  if (opts.requires_grad_) t.requires_grad_(true);
  return t;
}

}  // namespace

Tensor rand(const Shape& shape, const TensorOptions& opts, Generator* gen) {
  return random_tensor(shape, opts, gen, false, 0.0, 1.0);
}
Tensor randn(const Shape& shape, const TensorOptions& opts, Generator* gen) {
  return random_tensor(shape, opts, gen, true, 0.0, 1.0);
}
Tensor uniform(const Shape& shape, double low, double high, const TensorOptions& opts, Generator* gen) {
  return random_tensor(shape, opts, gen, false, low, high);
}
Tensor normal(const Shape& shape, double mean, double stdev, const TensorOptions& opts, Generator* gen) {
  return random_tensor(shape, opts, gen, true, mean, stdev);
}

Tensor randperm(int64_t n, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  Tensor t = Tensor::empty({n}, DType::Int64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[g.randint(static_cast<uint64_t>(i + 1))]);
  return t;
}

}  // namespace resa
