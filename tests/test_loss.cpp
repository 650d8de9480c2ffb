// Softmax family, cross-entropies, l2_normalize and mse_loss: gradient checks (tier 1), PyTorch
// reference values forward and backward (tier 2), numerical stability and error messages.
#include <limits>

#include "resa/ops/softmax.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

namespace {

Tensor labels_of(const std::vector<int64_t>& v) { return from_vector<int64_t>(v, {static_cast<int64_t>(v.size())}); }

// A float64 probability matrix (rows sum to 1) that does not require grad.
Tensor prob_rows(const Shape& s, uint64_t seed) {
  NoGradGuard ng;
  Tensor e = exp(rand64(s, seed, false));
  return div(e, sum(e, {1}, true));
}

// The gradient of sum(f(x) * r) w.r.t. x (x taken as a fresh leaf).
Tensor grad_of(const std::function<Tensor(const Tensor&)>& f, const Tensor& x_in, const Tensor& r) {
  Tensor x = x_in.detach().requires_grad_();
  sum(mul(f(x), r)).backward();
  return x.grad();
}

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector<double>())
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace

TEST_CASE("softmax and log_softmax pass gradcheck along every dim") {
  auto x2 = rand64({5, 7}, 1);
  for (int64_t d : {0, 1, -1}) {
    CAPTURE(d);
    RESA_GRADCHECK(Fn([d](auto& v) { return softmax(v[0], d); }), {x2});
    RESA_GRADCHECK(Fn([d](auto& v) { return log_softmax(v[0], d); }), {x2});
  }
  auto x3 = rand64({3, 4, 5}, 2);
  for (int64_t d : {0, 1, 2}) {
    CAPTURE(d);
    RESA_GRADCHECK(Fn([d](auto& v) { return softmax(v[0], d); }), {x3});
    RESA_GRADCHECK(Fn([d](auto& v) { return log_softmax(v[0], d); }), {x3});
  }
  // A non-contiguous input, and a chain that feeds one softmax into the other.
  RESA_GRADCHECK(Fn([](auto& v) { return softmax(v[0].transpose(0, 2), 1); }), {x3});
  RESA_GRADCHECK(Fn([](auto& v) { return log_softmax(softmax(v[0], 1) * 3.0, 0); }), {x2});
}

TEST_CASE("softmax matches the composed exp(x - max) / sum in float64") {
  auto x = rand64({4, 6, 3}, 3, false);
  for (int64_t d : {0, 1, 2}) {
    Tensor m = max(x, d, true);
    Tensor e = exp(sub(x, m));
    Tensor ref = div(e, sum(e, {d}, true));
    CHECK(max_abs_error(softmax(x, d), ref) < 1e-15);
    CHECK(max_abs_error(log_softmax(x, d), log(ref)) < 1e-14);
  }
  // Rows of a softmax sum to 1.
  auto s = sum(softmax(x, 1), {1});
  CHECK(max_abs_error(s, ones(s.shape(), TensorOptions().dtype(DType::Float64))) < 1e-15);
}

TEST_CASE("cross_entropy and cross_entropy_soft pass gradcheck") {
  auto logits = rand64({5, 7}, 4);
  auto labels = labels_of({6, 0, 3, 3, 1});
  RESA_GRADCHECK(Fn([labels](auto& v) { return cross_entropy(v[0], labels); }), {logits});
  // Gradients w.r.t. logits and target together (the target need not be a distribution for the gradient).
  auto target = prob_rows({5, 7}, 5).detach().requires_grad_();
  RESA_GRADCHECK(Fn([](auto& v) { return cross_entropy_soft(v[0], v[1]); }), {logits, target});
  RESA_GRADCHECK(Fn([](auto& v) { return cross_entropy_soft(v[0], v[1]); }), {logits, rand64({5, 7}, 6)});
  // Only one of the two needing a gradient.
  auto fixed_target = prob_rows({5, 7}, 7);
  RESA_GRADCHECK(Fn([fixed_target](auto& v) { return cross_entropy_soft(v[0], fixed_target); }), {logits});
  auto fixed_logits = rand64({5, 7}, 8, false);
  RESA_GRADCHECK(Fn([fixed_logits](auto& v) { return cross_entropy_soft(fixed_logits, v[0]); }), {target});
  // A non-contiguous logits view.
  auto lt = rand64({7, 5}, 9);
  RESA_GRADCHECK(Fn([labels](auto& v) { return cross_entropy(v[0].t(), labels); }), {lt});
}

TEST_CASE("cross-entropy values against closed forms") {
  // Uniform logits: the loss is log C whatever the labels.
  auto z = zeros({3, 5}, TensorOptions().dtype(DType::Float64));
  CHECK(cross_entropy(z, labels_of({0, 4, 2})).item() == doctest::Approx(std::log(5.0)).epsilon(1e-14));
  // One row [0, log 3]: p = (1/4, 3/4); label 0 gives -log(1/4).
  auto x = from_vector<double>({0.0, std::log(3.0)}, {1, 2});
  CHECK(cross_entropy(x, labels_of({0})).item() == doctest::Approx(std::log(4.0)).epsilon(1e-14));
  // A one-hot soft target equals the hard label loss.
  auto t = from_vector<double>({1.0, 0.0}, {1, 2});
  CHECK(cross_entropy_soft(x, t).item() == doctest::Approx(std::log(4.0)).epsilon(1e-14));
}

TEST_CASE("l2_normalize and mse_loss pass gradcheck") {
  auto x = rand64({5, 7}, 10);
  RESA_GRADCHECK(Fn([](auto& v) { return l2_normalize(v[0], 1); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return l2_normalize(v[0], 0); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return l2_normalize(v[0], 1, 1e-12) * 2.0; }), {rand64({3, 4, 5}, 11)});
  // Rows whose norm is below eps are divided by eps (the clamped branch); 0.01 * N(0,1) in 3 dims
  // stays well below 1.
  auto small = mul(rand64({4, 3}, 12, false), 0.01).detach().requires_grad_();
  RESA_GRADCHECK(Fn([](auto& v) { return l2_normalize(v[0], 1, 1.0); }), {small});
  RESA_GRADCHECK(Fn([](auto& v) { return mse_loss(v[0], v[1]); }), {x, rand64({5, 7}, 13)});
}

TEST_CASE("l2_normalize of an all-zero row is zero with a finite gradient g / eps") {
  auto x = zeros({2, 3}, TensorOptions().dtype(DType::Float64));
  x.select(0, 1).fill_(2.0);
  x.requires_grad_();
  auto y = l2_normalize(x, 1, 1e-3);
  auto yv = y.to_vector<double>();
  CHECK(yv[0] == 0.0);
  CHECK(yv[3] == doctest::Approx(1.0 / std::sqrt(3.0)));
  auto r = from_vector<double>({1, 2, 3, 0, 0, 0}, {2, 3});
  sum(mul(y, r)).backward();
  auto g = x.grad().to_vector<double>();
  CHECK(g[0] == doctest::Approx(1e3));
  CHECK(g[1] == doctest::Approx(2e3));
  CHECK(g[2] == doctest::Approx(3e3));
}

TEST_CASE("mse_loss value against a closed form") {
  auto a = from_vector<double>({1, 2, 3, 4}, {2, 2}), b = from_vector<double>({0, 2, 5, 4}, {2, 2});
  CHECK(mse_loss(a, b).item() == doctest::Approx((1.0 + 4.0) / 4.0));
}

TEST_CASE("softmax and log_softmax forward and backward match PyTorch (float32)") {
  auto fx = load_fixture("loss_softmax");
  for (auto& c : fx.meta["cases"]) {
    std::string name = c[0];
    int64_t dim = c[2];
    CAPTURE(name);
    Tensor x = fx.get(name + "_x"), r = fx.get(name + "_r");
    CHECK(max_rel_error(softmax(x, dim), fx.get(name + "_softmax", DType::Float64)) <= 1e-5);
    CHECK(max_rel_error(log_softmax(x, dim), fx.get(name + "_log_softmax", DType::Float64)) <= 1e-5);
    CHECK(max_rel_error(grad_of([dim](const Tensor& t) { return softmax(t, dim); }, x, r),
                        fx.get(name + "_softmax_grad", DType::Float64)) <= 1e-5);
    CHECK(max_rel_error(grad_of([dim](const Tensor& t) { return log_softmax(t, dim); }, x, r),
                        fx.get(name + "_log_softmax_grad", DType::Float64)) <= 1e-5);
  }
}

namespace {
// Loss and gradients of both cross-entropies on a fixture's logits/labels/target, checked against it.
void check_cross_entropy_fixture(const Fixture& fx) {
  Tensor logits = fx.get("logits").requires_grad_();
  Tensor labels = fx.get("labels", DType::Int64);
  Tensor loss = cross_entropy(logits, labels);
  CHECK(loss.dtype() == DType::Float32);
  CHECK(loss.dim() == 0);
  CHECK(max_rel_error(loss, fx.get("loss", DType::Float64)) <= 1e-5);
  loss.backward();
  CHECK(max_rel_error(logits.grad(), fx.get("grad_logits", DType::Float64)) <= 1e-5);

  Tensor l2 = fx.get("logits").requires_grad_(), target = fx.get("target").requires_grad_();
  Tensor soft = cross_entropy_soft(l2, target);
  CHECK(max_rel_error(soft, fx.get("soft_loss", DType::Float64)) <= 1e-5);
  soft.backward();
  CHECK(max_rel_error(l2.grad(), fx.get("soft_grad_logits", DType::Float64)) <= 1e-5);
  CHECK(max_rel_error(target.grad(), fx.get("soft_grad_target", DType::Float64)) <= 1e-5);
}
}  // namespace

TEST_CASE("cross_entropy (hard labels) and cross_entropy_soft match PyTorch (float32)") {
  check_cross_entropy_fixture(load_fixture("loss_cross_entropy"));
}

TEST_CASE("l2_normalize forward and backward match PyTorch (float32)") {
  auto fx = load_fixture("loss_l2_normalize");
  for (auto& c : fx.meta["cases"]) {
    std::string name = c[0];
    int64_t dim = c[2];
    double eps = c[3];
    CAPTURE(name);
    Tensor x = fx.get(name + "_x"), r = fx.get(name + "_r");
    CHECK(max_rel_error(l2_normalize(x, dim, eps), fx.get(name + "_y", DType::Float64)) <= 1e-5);
    CHECK(max_rel_error(grad_of([dim, eps](const Tensor& t) { return l2_normalize(t, dim, eps); }, x, r),
                        fx.get(name + "_grad", DType::Float64)) <= 1e-5);
  }
}

TEST_CASE("logits of magnitude 1e4 give finite values that match PyTorch (float32)") {
  auto fx = load_fixture("loss_large_logits");
  Tensor x = fx.get("logits"), r = fx.get("r");
  CHECK(max(abs(x)).item() > 5e3);
  Tensor s = softmax(x, 1), ls = log_softmax(x, 1);
  CHECK(all_finite(s));
  CHECK(all_finite(ls));
  CHECK(max_rel_error(s, fx.get("softmax", DType::Float64)) <= 1e-5);
  CHECK(max_rel_error(ls, fx.get("log_softmax", DType::Float64)) <= 1e-5);
  Tensor gs = grad_of([](const Tensor& t) { return softmax(t, 1); }, x, r);
  Tensor gls = grad_of([](const Tensor& t) { return log_softmax(t, 1); }, x, r);
  CHECK(all_finite(gs));
  CHECK(all_finite(gls));
  CHECK(max_rel_error(gs, fx.get("softmax_grad", DType::Float64)) <= 1e-5);
  CHECK(max_rel_error(gls, fx.get("log_softmax_grad", DType::Float64)) <= 1e-5);
  check_cross_entropy_fixture(fx);
  // Along dim 0 too (the strided kernel path), and with every logit shifted by -3e4.
  CHECK(all_finite(softmax(x.t(), 0)));
  CHECK(all_finite(log_softmax(x - 3e4, 1)));
  CHECK(max_rel_error(softmax(x.t().contiguous(), 0), fx.get("softmax", DType::Float64).t().contiguous()) <= 1e-5);
}

TEST_CASE("fused softmax kernels agree with the composed form on a wide float32 row") {
  // One row of 3001 logits and a (7, 1001) block along dim 0: exercises the row and column paths.
  Generator gen(14);
  Tensor x = randn({7, 1001}, TensorOptions().dtype(DType::Float64), &gen);
  Tensor ref = div(exp(sub(x, max(x, 0, true))), sum(exp(sub(x, max(x, 0, true))), {0}, true));
  CHECK(max_rel_error(softmax(x.to(DType::Float32), 0), ref) <= 1e-5);
  Tensor row = randn({1, 3001}, TensorOptions().dtype(DType::Float64), &gen);
  Tensor lse = logsumexp(row, 1, true);
  CHECK(max_rel_error(log_softmax(row.to(DType::Float32), 1), sub(row, lse)) <= 1e-5);
}

TEST_CASE("bad calls to the loss functions throw with the op, shapes and values") {
  auto logits = zeros({4, 7});
  RESA_CHECK_THROWS_WITH_SUBSTR(cross_entropy(logits, labels_of({0, 1, 7, 2})),
                                "[cross_entropy] label 7 at row 2 is out of range for C = 7 classes");
  RESA_CHECK_THROWS_WITH_SUBSTR(cross_entropy(logits, labels_of({0, -1, 1, 2})), "label -1 at row 1");
  RESA_CHECK_THROWS_WITH_SUBSTR(cross_entropy(logits, zeros({4})), "[cross_entropy] labels must be int64, got float32");
  RESA_CHECK_THROWS_WITH_SUBSTR(
      cross_entropy(logits, labels_of({0, 1, 2})),
      "[cross_entropy] labels must be (N) for logits (N, C): got labels (3) for logits (4, 7)");
  RESA_CHECK_THROWS_WITH_SUBSTR(cross_entropy(zeros({7}), labels_of({0})),
                                "[cross_entropy] logits must be (N, C), got (7)");
  RESA_CHECK_THROWS_WITH_SUBSTR(cross_entropy_soft(logits, zeros({4, 6})),
                                "[cross_entropy_soft] target (4, 6) must have the shape of logits (4, 7)");
  RESA_CHECK_THROWS_WITH_SUBSTR(cross_entropy_soft(logits, zeros({4, 7}, TensorOptions().dtype(DType::Float64))),
                                "[cross_entropy_soft] dtypes differ");
  RESA_CHECK_THROWS_WITH_SUBSTR(softmax(logits, 2), "[softmax] dim 2 is out of range for a tensor of 2 dims");
  RESA_CHECK_THROWS_WITH_SUBSTR(log_softmax(labels_of({1, 2}), 0),
                                "[log_softmax] expects a float32 or float64 tensor, got int64");
  RESA_CHECK_THROWS_WITH_SUBSTR(mse_loss(logits, zeros({4, 6})), "[mse_loss] shapes (4, 7) and (4, 6) differ");
  RESA_CHECK_THROWS_WITH_SUBSTR(l2_normalize(logits, 3), "[l2_normalize] dim 3 is out of range");
  RESA_CHECK_THROWS_WITH_SUBSTR(ops::softmax_backward(zeros({4, 6}), logits, 1),
                                "[softmax_backward] gradient (4, 6) and output (4, 7) differ in shape");
}

TEST_CASE("large softmaxes (threaded kernels) match the composed float64 form") {
  Generator gen(16);
  Tensor x = randn({300, 500}, TensorOptions().dtype(DType::Float64), &gen);
  for (int64_t d : {0, 1}) {
    CAPTURE(d);
    Tensor e = exp(sub(x, max(x, d, true)));
    Tensor ref = div(e, sum(e, {d}, true));
    CHECK(max_abs_error(softmax(x, d), ref) < 1e-15);
    // Backward against the formula y * (g - sum(g * y)) written with composed ops.
    Tensor g = randn({300, 500}, TensorOptions().dtype(DType::Float64), &gen);
    Tensor want = mul(ref, sub(g, sum(mul(g, ref), {d}, true)));
    CHECK(max_abs_error(ops::softmax_backward(g, ref, d), want) < 1e-14);
    Tensor want_log = sub(g, mul(ref, sum(g, {d}, true)));
    CHECK(max_abs_error(ops::log_softmax_backward(g, log(ref), d), want_log) < 1e-14);
  }
}
