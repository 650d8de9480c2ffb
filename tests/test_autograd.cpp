// Tier 1: gradient checks of views and reductions; the engine's contract. The elementwise functions'
// gradchecks (same inputs) are rows of tests/op_registry.h, run by tests/test_op_registry.cpp.
#include "test_util.h"

using namespace resa;
using namespace resa::test;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

TEST_CASE("views pass gradcheck") {
  auto x = rand64({3, 4, 5}, 6);
  RESA_GRADCHECK(Fn([](auto& v) { return v[0].reshape({5, -1}); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return v[0].permute({2, 0, 1}) * v[0].permute({2, 0, 1}); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return v[0].transpose(0, 2).reshape({-1}); }), {x});  // reshape of a non-view copies
  RESA_GRADCHECK(Fn([](auto& v) { return v[0].narrow(1, 1, 2); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return v[0].slice(2, 0, 5, 2); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return v[0].select(0, -1); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return v[0].unsqueeze(1).expand({3, 2, 4, 5}); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return v[0].flatten(1).unsqueeze(0).squeeze(0); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return v[0].transpose(1, 2).contiguous().clone(); }), {x});
}

TEST_CASE("reductions pass gradcheck") {
  auto x = rand64({3, 4, 5}, 7);
  RESA_GRADCHECK(Fn([](auto& v) { return sum(v[0]); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return sum(v[0], {0, 2}, true); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return sum(v[0].transpose(0, 1), {1}); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return mean(v[0], {1}); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return max(v[0], 2); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return min(v[0], 0, true); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return var(v[0], {0, 2}); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return var(v[0], {1}, false, true); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return logsumexp(v[0], 1); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return norm(v[0], {2}); }), {x});
}

TEST_CASE("reduction values against closed forms") {
  auto x = from_vector<double>({1, 5, 3, 4, 2, 6}, {2, 3});
  CHECK(sum(x).item() == 21);
  CHECK(sum(x, {0}).to_vector<double>() == std::vector<double>{5, 7, 9});
  CHECK(mean(x, {1}).to_vector<double>() == std::vector<double>{3, 4});
  CHECK(max(x, 1).to_vector<double>() == std::vector<double>{5, 6});
  CHECK(argmax(x, 1).to_vector<int64_t>() == std::vector<int64_t>{1, 2});
  CHECK(argmax(x, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1});
  CHECK(var(x, {1}).to_vector<double>() == std::vector<double>{4, 4});
  CHECK(var(x).item() == doctest::Approx(3.5));
}

TEST_CASE("a reused node accumulates both uses: b = a + a; c = b * b") {
  auto a = from_vector<double>({1.5, -2.0}, {2}, TensorOptions().requires_grad());
  auto b = a + a;
  auto c = b * b;
  sum(c).backward();
  // c = 4 a^2, dc/da = 8 a
  CHECK(a.grad().to_vector<double>() == std::vector<double>{12.0, -16.0});
  RESA_GRADCHECK(Fn([](auto& v) {
                   auto t = v[0] + v[0];
                   return t * t;
                 }),
                 {rand64({5}, 8)});
}

TEST_CASE("a chain of depth 10000 runs backward and is freed without overflowing the stack") {
  auto x = from_vector<float>({1.0f}, {1}, TensorOptions().requires_grad());
  Tensor y = x;
  for (int i = 0; i < 10000; ++i) y = y * 1.0001;
  sum(y).backward();
  CHECK(x.grad().item() == doctest::Approx(std::pow(1.0001, 10000)).epsilon(1e-3));
  y = Tensor();  // releases the graph
}

TEST_CASE("gradients accumulate across backward calls and retain_graph is enforced") {
  auto x = from_vector<double>({2.0}, {1}, TensorOptions().requires_grad());
  auto y = sum(x * x);
  y.backward({}, true);
  y.backward();
  CHECK(x.grad().item() == 8.0);
  RESA_CHECK_THROWS_WITH_SUBSTR(y.backward(), "already freed");
  x.zero_grad();
  CHECK(!x.grad().defined());
}

TEST_CASE("NoGradGuard and detach stop recording") {
  auto x = rand64({3}, 9);
  {
    NoGradGuard g;
    auto y = x * 2.0;
    CHECK(!y.requires_grad());
  }
  auto z = x.detach() * 2.0;
  CHECK(!z.requires_grad());
  CHECK((x * 2.0).requires_grad());
}

TEST_CASE("autograd::grad returns gradients without touching .grad") {
  auto x = rand64({4}, 10);
  auto y = x * x;
  auto g = autograd::grad({sum(y)}, {x, y});
  CHECK(max_abs_error(g[0], x.detach() * 2.0) < 1e-12);
  CHECK(max_abs_error(g[1], ones({4}, TensorOptions().dtype(DType::Float64))) == 0.0);
  CHECK(!x.grad().defined());
}

TEST_CASE("bad calls throw with the op and the shapes in the message") {
  auto a = zeros({2, 3}), b = zeros({4, 5});
  RESA_CHECK_THROWS_WITH_SUBSTR(add(a, b), "[add] shapes (2, 3) and (4, 5) cannot be broadcast");
  RESA_CHECK_THROWS_WITH_SUBSTR(mul(a, zeros({2, 3}, TensorOptions().dtype(DType::Float64))), "[mul] dtypes differ");
  RESA_CHECK_THROWS_WITH_SUBSTR(sum(a, {2}), "[sum] dim 2 is out of range for a tensor of 2 dims");
  RESA_CHECK_THROWS_WITH_SUBSTR(a.reshape({4, 2}), "[reshape] shape (4, 2) is invalid for input (2, 3)");
  RESA_CHECK_THROWS_WITH_SUBSTR(a.t().view({6}), "[view] cannot view");
  RESA_CHECK_THROWS_WITH_SUBSTR(a.narrow(1, 2, 2), "[narrow] range [2, 4) is out of bounds");
  RESA_CHECK_THROWS_WITH_SUBSTR(a.to(cuda_device()), "CUDA");
}

TEST_CASE("gradcheck catches a wrong gradient") {
  // x * detach(x) has true derivative 2x but records only x: gradcheck must say so.
  auto res = gradcheck([](const std::vector<Tensor>& v) { return v[0] * v[0].detach(); }, {rand64({4}, 11)});
  CHECK(!res.ok);
  CHECK(res.message.find("input 0") != std::string::npos);
}

TEST_CASE("relu's gradient is g where the output is positive and 0 elsewhere, 0 included (as PyTorch)") {
  auto x = from_vector<double>({-2.0, 0.0, 1e-300, 3.0, -0.0}, {5}).requires_grad_();
  auto g = from_vector<double>({5.0, 6.0, 7.0, 8.0, 9.0}, {5});
  relu(x).backward(g);
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0.0, 0.0, 7.0, 8.0, 0.0});
}

TEST_CASE("add_relu gives the bits of relu(a + b) and of its gradients, broadcast and at the kink") {
  Generator gen(17);
  auto opts = TensorOptions().dtype(DType::Float32);
  // (4, 3, 5) + (3, 1): the second input's gradient is summed over the broadcast dimensions; exact ties
  // a + b == 0 (and -0) take the ReLU's convention (gradient 0 there, as PyTorch).
  Tensor a0 = randn({4, 3, 5}, opts, &gen), b0 = randn({3, 1}, opts, &gen), gy = randn({4, 3, 5}, opts, &gen);
  auto av = a0.to_vector<float>();
  const auto bv = b0.to_vector<float>();
  av[0] = -bv[0], av[6] = -bv[1];
  a0 = from_vector<float>(av, {4, 3, 5});
  auto run = [&](bool fused) {
    Tensor a = a0.clone().requires_grad_(), b = b0.clone().requires_grad_();
    Tensor y = fused ? add_relu(a, b) : relu(a + b);
    y.backward(gy);
    return std::vector<Tensor>{y, a.grad(), b.grad()};
  };
  auto fused = run(true), composed = run(false);
  for (size_t i = 0; i < fused.size(); ++i) {
    INFO("output " << i);
    CHECK(fused[i].shape() == composed[i].shape());
    CHECK(fused[i].to_vector<float>() == composed[i].to_vector<float>());
  }
  CHECK(fused[0].to_vector<float>()[0] == 0.0f);
  CHECK(fused[1].to_vector<float>()[0] == 0.0f);
}
