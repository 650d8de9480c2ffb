// Tensor handle, views, factories, RNG and copies.
#include "test_util.h"

#include "resa/core/parallel.h"

using namespace resa;
using namespace resa::test;

TEST_CASE("views share storage; clone and contiguous copy") {
  auto x = arange(0, 12).reshape({3, 4});
  CHECK(x.is_contiguous());
  auto t = x.t();
  CHECK(!t.is_contiguous());
  CHECK(t.shape() == Shape{4, 3});
  CHECK(t.storage() == x.storage());
  auto c = t.contiguous();
  CHECK(c.storage() != x.storage());
  CHECK(c.to_vector<float>() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  auto n = x.narrow(1, 1, 2);
  n.fill_(-1);
  CHECK(x.to_vector<float>() == std::vector<float>{0, -1, -1, 3, 4, -1, -1, 7, 8, -1, -1, 11});
  auto e = from_vector<float>({1, 2}, {2, 1}).expand({2, 3});
  CHECK(e.strides() == Shape{1, 0});
  CHECK(e.contiguous().to_vector<float>() == std::vector<float>{1, 1, 1, 2, 2, 2});
  auto s = x.slice(1, 0, 4, 3);
  CHECK(s.to_vector<float>() == std::vector<float>{0, 3, 4, 7, 8, 11});
  CHECK(x.reshape({2, 6}).storage() == x.storage());
  CHECK(x.t().reshape({12}).storage() != x.storage());
}

TEST_CASE("dtype conversion and item") {
  auto x = from_vector<double>({1.5, -2.25}, {2});
  auto f = x.to(DType::Float32);
  CHECK(f.dtype() == DType::Float32);
  CHECK(f.to_vector<float>() == std::vector<float>{1.5f, -2.25f});
  CHECK(x.to(DType::Int64).to_vector<int64_t>() == std::vector<int64_t>{1, -2});
  CHECK(x.select(0, 1).item() == -2.25);
  CHECK_THROWS_AS(x.item(), Error);
}

TEST_CASE("the RNG gives the same numbers for a seed whatever the thread count") {
  set_num_threads(1);
  Generator g1(42);
  auto a = randn({100001}, {}, &g1);
  set_num_threads(2);
  Generator g2(42);
  auto b = randn({100001}, {}, &g2);
  CHECK(max_abs_error(a, b) == 0.0);
  // Consecutive draws differ, and a fresh generator reproduces them.
  auto c = randn({100001}, {}, &g2);
  CHECK(max_abs_error(b, c) > 0.1);
  // Moments: mean 0, variance 1 (within 5 standard errors), uniform mean 1/2.
  CHECK(std::abs(mean(a).item()) < 5 * std::sqrt(1.0 / 100001));
  CHECK(std::abs(var(a).item() - 1.0) < 5 * std::sqrt(2.0 / 100001));
  Generator g3(7);
  auto u = rand({100000}, {}, &g3);
  CHECK(std::abs(mean(u).item() - 0.5) < 5 * std::sqrt(1.0 / 12 / 100000));
  CHECK(max(u).item() < 1.0);
  auto p = randperm(10, &g3).to_vector<int64_t>();
  std::sort(p.begin(), p.end());
  for (int i = 0; i < 10; ++i) CHECK(p[i] == i);
}

TEST_CASE("elementwise loops over rows longer than one piece, on 1-3 threads") {
  // Rows of 70001 elements are cut into three pieces split across threads (ops/cpu/loops.h); each
  // result is checked element by element against its closed form (the values are integers, exact in
  // float64).
  const int64_t L = 70001;
  const TensorOptions f64{DType::Float64};
  ThreadsGuard tg;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    CAPTURE(threads);
    const Tensor x = arange(0, 3 * L, 1, f64).reshape({3, L});  // x[i][j] = i L + j
    const Tensor b = arange(0, L, 1, f64);
    auto sum = add(x, b).to_vector<double>();  // a row broadcast along the first dim
    auto twice = mul(arange(0, 3 * L, 1, f64).reshape({L, 3}).t(), 2.0).to_vector<double>();  // inner stride 3
    auto evens = arange(0, 4 * L, 1, f64).reshape({2, 2 * L}).slice(1, 0, 2 * L, 2).contiguous().to_vector<double>();
    auto cut = where(gt(x, scalar_tensor(static_cast<double>(L + 5), f64)), x, b).to_vector<double>();
    auto whole = add(arange(0, 3 * L, 1, f64), 1.0).to_vector<double>();  // one contiguous row of 3L
    int64_t bad = 0;
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < L; ++j) {
        const double v = static_cast<double>(i * L + j);
        bad += sum[i * L + j] != v + j;
        bad += twice[i * L + j] != 2.0 * static_cast<double>(3 * j + i);
        bad += cut[i * L + j] != (v > L + 5 ? v : static_cast<double>(j));
        bad += whole[i * L + j] != v + 1;
        if (i < 2) bad += evens[i * L + j] != static_cast<double>(i * 2 * L + 2 * j);
      }
    CHECK(bad == 0);
  }
}

TEST_CASE("the CPU allocator aligns to 64 bytes") {
  for (int n : {1, 3, 17, 1000}) {
    auto t = Tensor::empty({n});
    CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % 64 == 0);
  }
}

TEST_CASE("pinned host tensors: ordinary memory where there is no CUDA device") {
  auto t = Tensor::empty_pinned({3, 5}, DType::Float32);
  CHECK(t.device().is_cpu());
  CHECK(t.shape() == Shape{3, 5});
  CHECK(t.is_contiguous());
  t.fill_(2.5);
  CHECK(t.sum().item() == 37.5);
  RESA_CHECK_THROWS_WITH_SUBSTR(Tensor::empty_pinned({2, -1}), "negative size");
  if (!cuda_available()) {
    // The fallback: no pinned allocator, plain memory, and the fence is a no-op on it.
    CHECK(pinned_allocator() == nullptr);
    CHECK_FALSE(t.is_pinned());
    CHECK_FALSE(t.storage()->pinned());
  }
  wait_host_buffer(t.raw_data());
  wait_host_buffer(nullptr);
  auto plain = Tensor::empty({4});
  CHECK_FALSE(plain.is_pinned());
  wait_host_buffer(plain.raw_data());
  CHECK(t.to(kCPU).same(t));  // moving to the device it is on shares it
}
