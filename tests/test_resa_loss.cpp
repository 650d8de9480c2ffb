// The ReSA loss: both variants' values and gradients against the official code re-stated in PyTorch
// (float64 fixtures), gradcheck w.r.t. the embeddings, and the assignment carrying no gradient.
#include <string>

#include "resa/methods/resa_loss.h"
#include "resa/sinkhorn.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

namespace {
std::vector<Tensor> views(const Fixture& fx, const std::string& prefix, int n, DType dt) {
  std::vector<Tensor> out;
  for (int i = 0; i < n; ++i) out.push_back(fx.get(prefix + std::to_string(i), dt).detach().requires_grad_());
  return out;
}
}  // namespace

TEST_CASE("ReSA loss default: the row-only cross-entropy of the latest official code") {
  // Pinned: the official method/base.py cross_entropy(s, q) = -sum(q * log_softmax(s, 1), 1).mean().
  CHECK_FALSE(ReSALossOptions().symmetric_);
}

TEST_CASE("ReSA momentum loss: value, assignment and gradients match PyTorch") {
  auto fx = load_fixture("resa_loss_momentum");
  auto opts = ReSALossOptions().tau(fx.meta["tau"]).eps(fx.meta["eps"]).iters(fx.meta["iters"]);
  for (DType dt : {DType::Float64, DType::Float32}) {
    CAPTURE(dtype_name(dt));
    const double tol = dt == DType::Float64 ? 1e-10 : 1e-4;
    Tensor h0 = fx.get("h0", dt).detach().requires_grad_(), h0t = fx.get("h0t", dt).detach().requires_grad_();
    auto z = views(fx, "z", 3, dt), zt = views(fx, "zt", 2, dt);
    auto r = resa_loss(h0, h0t, z, zt, opts);
    CHECK(max_rel_error(r.loss.reshape({1}), fx.get("loss", DType::Float64)) < tol);
    CHECK(max_rel_error(r.assignment, fx.get("A", DType::Float64)) < tol);
    CHECK_FALSE(r.assignment.requires_grad());
    r.loss.backward();
    for (int i = 0; i < 3; ++i) {
      CAPTURE(i);
      REQUIRE(z[i].grad().defined());
      CHECK(max_rel_error(z[i].grad(), fx.get("grad_z" + std::to_string(i), DType::Float64)) < tol);
    }
    for (int i = 0; i < 2; ++i) {
      CAPTURE(i);
      REQUIRE(zt[i].grad().defined());
      CHECK(max_rel_error(zt[i].grad(), fx.get("grad_zt" + std::to_string(i), DType::Float64)) < tol);
    }
    // A is a target without gradient, so the encodings get none from this loss.
    CHECK_FALSE(h0.grad().defined());
    CHECK_FALSE(h0t.grad().defined());

    // The symmetric form of the official code's first releases.
    auto sym = resa_loss(h0, h0t, z, zt, ReSALossOptions(opts).symmetric(true));
    CHECK(max_rel_error(sym.loss.reshape({1}), fx.get("loss_sym", DType::Float64)) < tol);
  }
}

TEST_CASE("ReSA momentum-free loss: value, assignment and gradients match PyTorch") {
  auto fx = load_fixture("resa_loss_free");
  auto opts = ReSALossOptions().tau(fx.meta["tau"]).eps(fx.meta["eps"]).iters(fx.meta["iters"]);
  for (DType dt : {DType::Float64, DType::Float32}) {
    CAPTURE(dtype_name(dt));
    const double tol = dt == DType::Float64 ? 1e-10 : 1e-4;
    Tensor h0 = fx.get("h0", dt).detach().requires_grad_();
    auto z = views(fx, "z", 2, dt);
    auto r = resa_loss_momentum_free(h0, z, opts);
    CHECK(max_rel_error(r.loss.reshape({1}), fx.get("loss", DType::Float64)) < tol);
    CHECK(max_rel_error(r.assignment, fx.get("A", DType::Float64)) < tol);
    r.loss.backward();
    for (int i = 0; i < 2; ++i) {
      CAPTURE(i);
      REQUIRE(z[i].grad().defined());
      CHECK(max_rel_error(z[i].grad(), fx.get("grad_z" + std::to_string(i), DType::Float64)) < tol);
    }
    CHECK_FALSE(h0.grad().defined());
  }
}

TEST_CASE("ReSA losses pass gradcheck w.r.t. the embeddings (odd sizes)") {
  const int64_t m = 7, d = 5, e = 3;
  Tensor h0 = rand64({m, d}, 11, false), h0t = rand64({m, d}, 12, false);
  std::vector<Tensor> in = {rand64({m, e}, 13), rand64({m, e}, 14), rand64({m, e}, 15), rand64({m, e}, 16)};
  RESA_GRADCHECK(Fn([&](auto& x) { return resa_loss(h0, h0t, {x[0], x[1]}, {x[2], x[3]}).loss; }), in);
  RESA_GRADCHECK(Fn([&](auto& x) {
                   return resa_loss(h0, h0t, {x[0], x[1]}, {x[2], x[3]}, ReSALossOptions().symmetric(true)).loss;
                 }),
                 in);
  RESA_GRADCHECK(Fn([&](auto& x) {
                   return resa_loss_momentum_free(h0, {x[0], x[1], x[2]}).loss;
                 }),
                 std::vector<Tensor>{in[0], in[1], in[2]});
  // The pair term alone, w.r.t. the logits.
  Tensor target = sinkhorn(rand64({m, m}, 17, false));
  RESA_GRADCHECK(Fn([&](auto& x) { return resa_pair_loss(x[0], target); }), {rand64({m, m}, 18)});
}

TEST_CASE("ReSA loss checks its arguments") {
  Tensor h = zeros({4, 3}), z = zeros({4, 2});
  RESA_CHECK_THROWS_WITH_SUBSTR(resa_loss(h, zeros({5, 3}), {z, z}, {z, z}), "h0_teacher");
  RESA_CHECK_THROWS_WITH_SUBSTR(resa_loss(h, h, {z, zeros({4, 3})}, {z, z}), "z[1]");
  RESA_CHECK_THROWS_WITH_SUBSTR(resa_loss(h, h, {z}, {z}), "pair");
  RESA_CHECK_THROWS_WITH_SUBSTR(resa_loss_momentum_free(h, {z}), "2 views");
  RESA_CHECK_THROWS_WITH_SUBSTR(resa_loss(h, h, {z, z}, {z, z}, ReSALossOptions().tau(0)), "tau");
}
