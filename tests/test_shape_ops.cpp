// cat, stack, index_select and gather: gradient checks (tier 1), values against closed forms, and
// error messages for bad shapes, dtypes and out-of-range indices.
#include "resa/ops/index.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

namespace {
Tensor idx(const std::vector<int64_t>& v, const Shape& s) { return from_vector<int64_t>(v, s); }
Tensor idx(const std::vector<int64_t>& v) { return idx(v, {static_cast<int64_t>(v.size())}); }
}  // namespace

TEST_CASE("cat passes gradcheck along every dim") {
  auto a = rand64({2, 3, 4}, 1), b = rand64({2, 1, 4}, 2), c = rand64({2, 5, 4}, 3);
  RESA_GRADCHECK(Fn([](auto& v) { return cat({v[0], v[1], v[2]}, 1); }), {a, b, c});
  auto d = rand64({3, 3, 4}, 4), e = rand64({2, 3, 5}, 5);
  RESA_GRADCHECK(Fn([](auto& v) { return cat({v[0], v[1]}, 0); }), {a, d});
  RESA_GRADCHECK(Fn([](auto& v) { return cat({v[0], v[1]}, -1); }), {a, e});
  // A transposed input, the same tensor twice, and an input that needs no gradient.
  auto f = rand64({4, 3, 2}, 6);
  RESA_GRADCHECK(Fn([](auto& v) { return cat({v[0], v[1].transpose(0, 2), v[0]}, 1); }), {a, f});
  auto fixed = rand64({2, 3, 4}, 7, false);
  RESA_GRADCHECK(Fn([fixed](auto& v) { return cat({fixed, v[0]}, 2) * 2.0; }), {a});
}

TEST_CASE("cat and stack values") {
  auto a = from_vector<double>({1, 2, 3, 4}, {2, 2}), b = from_vector<double>({5, 6}, {2, 1});
  CHECK(cat({a, b}, 1).to_vector<double>() == std::vector<double>{1, 2, 5, 3, 4, 6});
  CHECK(cat({a, b.t()}, 0).to_vector<double>() == std::vector<double>{1, 2, 3, 4, 5, 6});
  auto s = stack({a, a * 10.0}, 1);
  CHECK(s.shape() == Shape{2, 2, 2});
  CHECK(s.to_vector<double>() == std::vector<double>{1, 2, 10, 20, 3, 4, 30, 40});
  auto s2 = stack({a, a * 10.0}, -1);
  CHECK(s2.shape() == Shape{2, 2, 2});
  CHECK(s2.to_vector<double>() == std::vector<double>{1, 10, 2, 20, 3, 30, 4, 40});
  // int64 tensors concatenate too (no gradient involved).
  CHECK(cat({idx({1, 2}), idx({3})}, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3});
}

TEST_CASE("stack passes gradcheck at the first, a middle and the last dim") {
  auto a = rand64({3, 5}, 8), b = rand64({3, 5}, 9), c = rand64({3, 5}, 10);
  for (int64_t d : {0, 1, 2, -1}) {
    CAPTURE(d);
    RESA_GRADCHECK(Fn([d](auto& v) { return stack({v[0], v[1], v[2]}, d); }), {a, b, c});
  }
}

TEST_CASE("index_select passes gradcheck with repeated indices") {
  auto x = rand64({5, 7}, 11);
  auto rows = idx({4, 0, 4, 2, 4, 1});
  RESA_GRADCHECK(Fn([rows](auto& v) { return index_select(v[0], 0, rows); }), {x});
  auto cols = idx({6, 6, 0, 3});
  RESA_GRADCHECK(Fn([cols](auto& v) { return index_select(v[0], 1, cols); }), {x});
  auto x3 = rand64({3, 4, 5}, 12);
  RESA_GRADCHECK(Fn([cols = idx({1, 1, 3})](auto& v) { return index_select(v[0], 1, cols); }), {x3});
  RESA_GRADCHECK(Fn([cols = idx({2, 0, 2})](auto& v) { return index_select(v[0].transpose(0, 2), 0, cols); }), {x3});
}

TEST_CASE("index_select values and the accumulation of its gradient") {
  auto x = from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2}, TensorOptions().requires_grad());
  auto y = index_select(x, 0, idx({2, 0, 2}));
  CHECK(y.to_vector<double>() == std::vector<double>{5, 6, 1, 2, 5, 6});
  sum(y).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 1, 0, 0, 2, 2});
  CHECK(index_select(idx({7, 8, 9}), 0, idx({2, 2, 0})).to_vector<int64_t>() == std::vector<int64_t>{9, 9, 7});
}

TEST_CASE("gather passes gradcheck with repeated indices") {
  auto x = rand64({5, 7}, 13);
  // Along dim 1, index (5, 4) with repeats in each row, so scatter-add must accumulate.
  auto i1 = idx({0, 0, 6, 0, 1, 1, 1, 2, 3, 5, 3, 3, 6, 6, 6, 6, 2, 4, 2, 4}, {5, 4});
  RESA_GRADCHECK(Fn([i1](auto& v) { return gather(v[0], 1, i1); }), {x});
  // Along dim 0, index smaller than x in the other dim.
  auto i0 = idx({4, 4, 0, 1, 4, 4, 2, 2, 0}, {3, 3});
  RESA_GRADCHECK(Fn([i0](auto& v) { return gather(v[0], 0, i0); }), {x});
  // 3-D, along the middle dim, of a non-contiguous input.
  auto x3 = rand64({4, 3, 5}, 14);  // transposed to (5, 3, 4)
  std::vector<int64_t> iv;
  for (int64_t i = 0; i < 5 * 6 * 4; ++i) iv.push_back((i * 7 + i / 3) % 3);
  auto i3 = idx(iv, {5, 6, 4});
  RESA_GRADCHECK(Fn([i3](auto& v) { return gather(v[0].transpose(0, 2), 1, i3); }), {x3});
}

TEST_CASE("gather values and scatter-add accumulation") {
  auto x = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3}, TensorOptions().requires_grad());
  auto y = gather(x, 1, idx({0, 0, 0, 2, 1, 2}, {2, 3}));
  CHECK(y.to_vector<double>() == std::vector<double>{1, 1, 1, 6, 5, 6});
  sum(y).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{3, 0, 0, 0, 1, 2});
  // The direct ops, in place.
  auto dst = zeros({2, 3}, TensorOptions().dtype(DType::Float64));
  ops::scatter_add_(dst, 0, idx({1, 1, 0}, {1, 3}), from_vector<double>({1, 2, 3}, {1, 3}));
  CHECK(dst.to_vector<double>() == std::vector<double>{0, 0, 3, 1, 2, 0});
  ops::index_add_(dst, 1, idx({2, 2}), from_vector<double>({10, 20, 30, 40}, {2, 2}));
  CHECK(dst.to_vector<double>() == std::vector<double>{0, 0, 33, 1, 2, 70});
}

TEST_CASE("bad calls to shape and index ops throw with the op, shapes and values") {
  auto x = zeros({3, 4});
  RESA_CHECK_THROWS_WITH_SUBSTR(index_select(x, 1, idx({0, 4})),
                                "[index_select] index 4 (at position 1) is out of range for dim 1 of size 4");
  RESA_CHECK_THROWS_WITH_SUBSTR(index_select(x, 0, idx({-1})),
                                "[index_select] index -1 (at position 0) is out of range");
  RESA_CHECK_THROWS_WITH_SUBSTR(index_select(x, 0, zeros({2})), "[index_select] index must be int64, got float32");
  RESA_CHECK_THROWS_WITH_SUBSTR(index_select(x, 0, idx({0, 1}, {1, 2})), "[index_select] index must be 1-D");
  RESA_CHECK_THROWS_WITH_SUBSTR(index_select(x, 2, idx({0})), "[index_select] dim 2 is out of range");
  RESA_CHECK_THROWS_WITH_SUBSTR(
      gather(x, 1, idx({0, 9}, {1, 2})),
      "[gather] index 9 (at position 1) is out of range for dim 1 of size 4 (input (3, 4), index (1, 2))");
  RESA_CHECK_THROWS_WITH_SUBSTR(gather(x, 1, idx({0, 1})), "[gather] index (2) must have the rank of input (3, 4)");
  RESA_CHECK_THROWS_WITH_SUBSTR(gather(x, 1, idx({0, 0, 0, 0}, {4, 1})),
                                "[gather] index (4, 1) is larger than input (3, 4) at dim 0");
  RESA_CHECK_THROWS_WITH_SUBSTR(gather(x, 0, zeros({1, 1}, TensorOptions().dtype(DType::Float64))),
                                "[gather] index must be int64, got float64");
  RESA_CHECK_THROWS_WITH_SUBSTR(cat({x, zeros({3, 5})}, 0),
                                "[cat] tensor 1 has shape (3, 5), which differs from tensor 0's (3, 4) outside dim 0");
  RESA_CHECK_THROWS_WITH_SUBSTR(cat({x, zeros({3, 4, 1})}, 1), "[cat] tensor 1 has shape (3, 4, 1)");
  RESA_CHECK_THROWS_WITH_SUBSTR(cat({x, zeros({3, 4}, TensorOptions().dtype(DType::Float64))}, 0),
                                "[cat] dtypes differ");
  RESA_CHECK_THROWS_WITH_SUBSTR(cat({}, 0), "[cat] needs at least one tensor");
  RESA_CHECK_THROWS_WITH_SUBSTR(cat({x}, 2), "[cat] dim 2 is out of range");
  RESA_CHECK_THROWS_WITH_SUBSTR(stack({x, zeros({4, 3})}, 0), "[stack] tensor 1 has shape (4, 3), tensor 0 has (3, 4)");
  RESA_CHECK_THROWS_WITH_SUBSTR(ops::scatter_add_(zeros({3, 4}), 0, idx({3}, {1, 1}), zeros({1, 1})),
                                "[scatter_add] index 3 (at position 0) is out of range for dim 0 of size 3");
  RESA_CHECK_THROWS_WITH_SUBSTR(ops::index_add_(zeros({3, 4}), 0, idx({0}), zeros({2, 4})),
                                "[index_add] source (2, 4) must be (1, 4)");
  RESA_CHECK_THROWS_WITH_SUBSTR(ops::index_add_(zeros({3, 4}).t(), 0, idx({0}), zeros({1, 3})),
                                "[index_add] destination (4, 3) must be contiguous");
}

TEST_CASE("large gathers and index_selects (threaded kernels) accumulate like a host loop") {
  // Sizes big enough that the kernels split work across threads; every gradient is a count of uses.
  Generator gen(15);
  const int64_t R = 64, C = 2000, K = 3000;
  std::vector<int64_t> iv(R * K);
  for (auto& v : iv) v = static_cast<int64_t>(gen.randint(C));
  auto x = zeros({R, C}, TensorOptions().dtype(DType::Float32).requires_grad());
  sum(gather(x, 1, idx(iv, {R, K}))).backward();
  std::vector<float> counts(R * C, 0.0f);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t k = 0; k < K; ++k) counts[r * C + iv[r * K + k]] += 1.0f;
  CHECK(x.grad().to_vector<float>() == counts);

  const int64_t N = 50000, M = 7;
  std::vector<int64_t> rows(M);
  for (auto& v : rows) v = static_cast<int64_t>(gen.randint(3));
  auto y = zeros({3, N}, TensorOptions().requires_grad());
  sum(index_select(y, 0, idx(rows))).backward();
  std::vector<float> row_counts(3, 0.0f);
  for (auto r : rows) row_counts[r] += 1.0f;
  auto g = y.grad().to_vector<float>();
  bool ok = true;
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t i = 0; i < N; ++i) ok = ok && g[r * N + i] == row_counts[r];
  CHECK(ok);
}
