// Helpers shared by the tests: tensor comparison, fixture reading.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "fixture.h"
#include "resa/autograd/functions.h"
#include "resa/autograd/gradcheck.h"
#include "resa/core/parallel.h"
#include "resa/data/dataset.h"

namespace resa::test {

// Restores the thread count a test changed.
struct ThreadsGuard {
  int saved = get_num_threads();
  ~ThreadsGuard() { set_num_threads(saved); }
};

// Max relative error max|a - b| / max(max|b|, tiny), the measure the fixtures are held to.
inline double max_rel_error(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  double num = 0, den = 1e-30;
  for (size_t i = 0; i < va.size(); ++i) {
    num = std::max(num, std::abs(va[i] - vb[i]));
    den = std::max(den, std::abs(vb[i]));
  }
  return num / den;
}

inline double max_abs_error(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

inline Tensor rand64(const Shape& s, uint64_t seed, bool requires_grad = true) {
  Generator g(seed);
  return randn(s, TensorOptions().dtype(DType::Float64).requires_grad(requires_grad), &g);
}

// Gradcheck that reports the mismatch on failure.
#define RESA_GRADCHECK(fn, inputs, ...)                       \
  do {                                                        \
    auto _res = ::resa::gradcheck(fn, inputs, ##__VA_ARGS__); \
    INFO(_res.message);                                       \
    CHECK(_res.ok);                                           \
  } while (0)

// n images of c x h x w pixels (HWC, a fixed scrambled pattern) with labels i % classes: a dataset the
// loader, distributed and CUDA tests build without files.
inline data::DatasetPtr synthetic_dataset(int64_t n, int64_t c, int64_t h, int64_t w, int64_t classes) {
  std::vector<uint8_t> px(static_cast<size_t>(n * c * h * w));
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  std::vector<int64_t> lb(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) lb[static_cast<size_t>(i)] = i % classes;
  return std::make_shared<data::InMemoryDataset>(std::move(px), std::move(lb), c, h, w, data::Layout::HWC, classes);
}

// Checks that `expr` throws resa::Error whose message contains `needle`.
#define RESA_CHECK_THROWS_WITH_SUBSTR(expr, needle)                          \
  do {                                                                       \
    bool _thrown = false;                                                    \
    try {                                                                    \
      (void)(expr);                                                          \
    } catch (const ::resa::Error& _e) {                                      \
      _thrown = true;                                                        \
      INFO("message: " << _e.what());                                        \
      CHECK(std::string(_e.what()).find(needle) != std::string::npos);       \
    }                                                                        \
    CHECK_MESSAGE(_thrown, "expected a resa::Error containing: " << needle); \
  } while (0)

}  // namespace resa::test
