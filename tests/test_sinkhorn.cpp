// Sinkhorn-Knopp: values against the official algorithm (float64 PyTorch fixture), the sums it
// guarantees, and finiteness for wide inputs.
#include <cmath>
#include <limits>

#include "resa/sinkhorn.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;

namespace {
bool all_finite(const Tensor& t) {
  for (double v : t.to_vector<double>())
    if (!std::isfinite(v)) return false;
  return true;
}
}  // namespace

TEST_CASE("sinkhorn matches the official ReSA/SwAV algorithm (float64 and float32)") {
  auto fx = load_fixture("resa_sinkhorn");
  for (auto& c : fx.meta["cases"]) {
    std::string name = c["name"];
    double eps = c["eps"];
    int64_t iters = c["iters"];
    CAPTURE(name);
    auto opts = SinkhornOptions().eps(eps).iters(iters);
    Tensor ref = fx.get(name + "_A", DType::Float64);
    Tensor a64 = sinkhorn(fx.get(name + "_S", DType::Float64), opts);
    CHECK(a64.dtype() == DType::Float64);
    CHECK(max_rel_error(a64, ref) < 1e-10);
    Tensor a32 = sinkhorn(fx.get(name + "_S", DType::Float32), opts);
    CHECK(a32.dtype() == DType::Float32);
    CHECK(max_rel_error(a32, ref) < 1e-4);
  }
}

TEST_CASE("sinkhorn rows sum to 1; columns tend to m/k as the iterations grow") {
  auto fx = load_fixture("resa_sinkhorn");
  for (const char* name : {"sq7", "rect9x5", "rect4x6"}) {
    CAPTURE(name);
    Tensor s = fx.get(std::string(name) + "_S", DType::Float64);
    const double m = static_cast<double>(s.size(0)), k = static_cast<double>(s.size(1));
    // The last step of each round is a row step, so row sums are exact for any iters.
    for (int64_t iters : {0, 1, 3}) {
      Tensor a = sinkhorn(s, SinkhornOptions().iters(iters));
      for (double r : sum(a, {1}).to_vector<double>()) CHECK(r == doctest::Approx(1.0).epsilon(1e-12));
      for (double v : a.to_vector<double>()) CHECK(v >= 0.0);
    }
    // Columns are only approximately m/k after 3 rounds; with many rounds the fixed point is reached.
    Tensor a = sinkhorn(s, SinkhornOptions().eps(0.1).iters(2000));
    for (double c : sum(a, {0}).to_vector<double>()) CHECK(c == doctest::Approx(m / k).epsilon(1e-6));
  }
}

TEST_CASE("sinkhorn stays finite: |S| <= 1 at tiny eps, and |S| up to 1e3") {
  Generator g(7);
  Tensor s1 = uniform({33, 33}, -1, 1, {}, &g);  // float32
  for (double eps : {0.05, 0.01, 1e-3}) {
    Tensor a = sinkhorn(s1, SinkhornOptions().eps(eps));
    CHECK(all_finite(a));
    for (double r : sum(a, {1}).to_vector<double>()) CHECK(r == doctest::Approx(1.0).epsilon(1e-5));
  }
  // Constant and extreme inputs.
  CHECK(all_finite(sinkhorn(full({5, 3}, 1.0))));
  CHECK(all_finite(sinkhorn(full({5, 3}, -1.0))));
  Tensor wide = uniform({17, 9}, -1000, 1000, {}, &g);
  Tensor a = sinkhorn(wide);
  CHECK(all_finite(a));
  for (double r : sum(a, {1}).to_vector<double>()) CHECK(r == doctest::Approx(1.0).epsilon(1e-5));

  // Against a float64 log-space reference (the official form overflows exp(S/eps) here).
  auto fx = load_fixture("resa_sinkhorn");
  Tensor ref = fx.get("wide_A", DType::Float64);
  Tensor a64 = sinkhorn(fx.get("wide_S", DType::Float64));
  CHECK(all_finite(a64));
  CHECK(max_abs_error(a64, ref) < 1e-9);
  Tensor a32 = sinkhorn(fx.get("wide_S", DType::Float32));
  CHECK(all_finite(a32));
  CHECK(max_abs_error(a32, ref) < 1e-2);  // log values ~2e4 in float32 carry ~1e-3 absolute error
}

TEST_CASE("sinkhorn carries no gradient and checks its arguments") {
  Tensor s = rand64({4, 4}, 3);  // requires grad
  Tensor a = sinkhorn(s);
  CHECK_FALSE(a.requires_grad());
  CHECK(a.is_leaf());
  RESA_CHECK_THROWS_WITH_SUBSTR(sinkhorn(zeros({4})), "[sinkhorn]");
  RESA_CHECK_THROWS_WITH_SUBSTR(sinkhorn(zeros({4, 4}), SinkhornOptions().eps(0)), "eps");
  RESA_CHECK_THROWS_WITH_SUBSTR(sinkhorn(zeros({4, 4}), SinkhornOptions().iters(-1)), "iters");
}
