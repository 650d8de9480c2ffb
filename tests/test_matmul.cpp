// matmul: gradient checks (tier 1), PyTorch reference values (tier 2), and every CPU GEMM backend
// against a naive triple loop at odd sizes, transposes and padded leading dims.
#include <cblas.h>

#include <limits>
#include <thread>

#include "resa/core/parallel.h"
#include "resa/ops/cpu/gemm.h"
#include "resa/ops/linalg.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
using cpu::GemmBackend;

namespace {

std::vector<GemmBackend> available_backends() {
  std::vector<GemmBackend> out;
  for (auto b : {GemmBackend::OpenBLAS, GemmBackend::EigenAVX2})
    if (cpu::gemm_backend_available(b)) out.push_back(b);
  return out;
}

// Runs `body` once with each available backend as the engine's choice, restoring the choice after.
template <typename F>
void for_each_backend(F&& body) {
  const GemmBackend saved = cpu::gemm_backend();
  for (auto b : available_backends()) {
    cpu::set_gemm_backend(b);
    INFO("backend: " << std::string(cpu::gemm_backend_name()));
    body();
  }
  cpu::set_gemm_backend(saved);
}

// C = alpha op(A) op(B) + beta C in long double, row-major, the reference for the GEMM kernels.
template <typename T>
std::vector<T> naive_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const std::vector<T>& a,
                          int64_t lda, const std::vector<T>& b, int64_t ldb, T beta, const std::vector<T>& c0,
                          int64_t ldc, std::vector<double>* abs_bound) {
  std::vector<T> c = c0;
  abs_bound->assign(c.size(), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      long double s = 0, bound = 0;
      for (int64_t p = 0; p < k; ++p) {
        long double x = ta ? a[p * lda + i] : a[i * lda + p];
        long double y = tb ? b[j * ldb + p] : b[p * ldb + j];
        s += x * y;
        bound += std::abs(x * y);
      }
      long double prev = beta == T(0) ? 0.0L : static_cast<long double>(beta) * c0[i * ldc + j];
      c[i * ldc + j] = static_cast<T>(static_cast<long double>(alpha) * s + prev);
      (*abs_bound)[i * ldc + j] = static_cast<double>(std::abs(alpha) * bound + std::abs(prev));
    }
  return c;
}

template <typename T>
std::vector<T> random_vec(size_t n, uint64_t seed) {
  Generator g(seed);
  return randn({static_cast<int64_t>(n)}, TensorOptions().dtype(DType::Float64), &g).to_vector<T>();
}

// Checks one GEMM call on every backend against the naive loop. Leading dims are padded by `pad`;
// C's padding must be left untouched, and with beta == 0 C's old (NaN) values must not leak in.
template <typename T>
void check_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t pad, T alpha, T beta) {
  // BLAS wants leading dims of at least 1, even for an empty matrix
  const int64_t lda = std::max<int64_t>(1, ta ? m : k) + pad, ldb = std::max<int64_t>(1, tb ? k : n) + pad,
                ldc = std::max<int64_t>(1, n) + pad;
  const int64_t a_rows = ta ? k : m, b_rows = tb ? n : k;
  auto a = random_vec<T>(static_cast<size_t>(std::max<int64_t>(1, a_rows * lda)), 11 + m);
  auto b = random_vec<T>(static_cast<size_t>(std::max<int64_t>(1, b_rows * ldb)), 13 + n);
  auto c0 = random_vec<T>(static_cast<size_t>(std::max<int64_t>(1, m * ldc)), 17 + k);
  if (beta == T(0))
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c0[i * ldc + j] = std::numeric_limits<T>::quiet_NaN();
  std::vector<double> bound;
  auto ref = naive_gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc, &bound);
  const double eps = std::numeric_limits<T>::epsilon();
  for (auto backend : available_backends()) {
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      auto c = c0;
      cpu::gemm(backend, ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
      double worst = 0;  // error in units of the rounding bound (k + 2) eps sum|a_ip b_pj|
      bool padding_kept = true, finite = true;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < ldc; ++j) {
          const size_t at = static_cast<size_t>(i * ldc + j);
          if (j >= n) {
            padding_kept = padding_kept && (c[at] == c0[at]);
            continue;
          }
          finite = finite && std::isfinite(c[at]);
          double err = std::abs(static_cast<double>(c[at]) - static_cast<double>(ref[at]));
          worst = std::max(worst, err / ((k + 2) * eps * bound[at] + std::numeric_limits<double>::min()));
        }
      INFO(std::string(cpu::gemm_backend_name(backend))
           << " threads=" << threads << " ta=" << ta << " tb=" << tb << " m=" << m << " n=" << n << " k=" << k
           << " pad=" << pad << " alpha=" << alpha << " beta=" << beta);
      CHECK(finite);
      CHECK(padding_kept);
      CHECK(worst <= 1.0);
    }
  }
  set_num_threads(2);
}

Tensor naive_matmul64(const Tensor& a, const Tensor& b) {
  // a: (m, k), b: (k, n) -> (m, n), in double
  auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  std::vector<double> out(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j) out[i * n + j] += va[i * k + p] * vb[p * n + j];
  return from_vector<double>(out, {m, n});
}

}  // namespace

TEST_CASE("matmul 2-D, batched and broadcast pass gradcheck") {
  for_each_backend([] {
    RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0], x[1]); }), {rand64({3, 5}, 1), rand64({5, 4}, 2)});
    RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0], x[1]); }), {rand64({2, 3, 5}, 3), rand64({2, 5, 4}, 4)});
    RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0], x[1]); }), {rand64({2, 1, 3, 4}, 5), rand64({5, 4, 2}, 6)});
    // only one operand needs a gradient
    RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0], x[1]); }), {rand64({3, 5}, 7), rand64({5, 4}, 8, false)});
    RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0], x[1]); }), {rand64({3, 5}, 9, false), rand64({5, 4}, 10)});
  });
}

TEST_CASE("matmul with 1-D operands follows numpy and passes gradcheck") {
  auto v5 = rand64({5}, 11), w5 = rand64({5}, 12);
  auto y = matmul(v5, w5);
  CHECK(y.dim() == 0);
  CHECK(matmul(v5, rand64({5, 3}, 13)).shape() == Shape{3});
  CHECK(matmul(rand64({3, 5}, 14), w5).shape() == Shape{3});
  CHECK(matmul(v5, rand64({2, 5, 3}, 15)).shape() == Shape{2, 3});
  CHECK(matmul(rand64({2, 3, 5}, 16), w5).shape() == Shape{2, 3});
  RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0], x[1]); }), {v5, w5});
  RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0], x[1]); }), {v5, rand64({5, 3}, 17)});
  RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0], x[1]); }), {rand64({3, 5}, 18), w5});
  RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0], x[1]); }), {v5, rand64({2, 5, 3}, 19)});
  RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0], x[1]); }), {rand64({2, 3, 5}, 20), w5});
  // the value of a dot product, against the closed form
  auto va = v5.to_vector<double>(), vb = w5.to_vector<double>();
  double dot = 0;
  for (size_t i = 0; i < va.size(); ++i) dot += va[i] * vb[i];
  CHECK(y.item() == doctest::Approx(dot).epsilon(1e-12));
}

TEST_CASE("matmul of transposed and sliced views passes gradcheck and matches the contiguous product") {
  for_each_backend([] {
    // transposed views go to the GEMM as transposes
    RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0].t(), x[1]); }), {rand64({5, 3}, 21), rand64({5, 4}, 22)});
    RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0], x[1].transpose(-1, -2)); }),
                   {rand64({2, 3, 5}, 23), rand64({2, 4, 5}, 24)});
    RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0].transpose(-1, -2), x[1].transpose(-1, -2)); }),
                   {rand64({2, 5, 3}, 25), rand64({4, 5}, 26)});
    // row slices keep a unit column stride (lda > k, no copy); a column step of 2 needs a copy
    RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0].narrow(1, 1, 5), x[1].narrow(0, 2, 5)); }),
                   {rand64({3, 9}, 27), rand64({8, 4}, 28)});
    RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0].slice(1, 0, 9, 2), x[1].slice(0, 1, 10, 2)); }),
                   {rand64({3, 9}, 29), rand64({10, 4}, 30)});
    // a batch dim sliced with a step, and an expanded (stride 0) matrix operand
    RESA_GRADCHECK(Fn([](auto& x) {
                     return matmul(x[0].slice(0, 0, 5, 2), x[1].expand({5, 4}));
                   }),
                   {rand64({5, 3, 5}, 31), rand64({5, 1}, 32)});
  });
  // The same views in forward, compared with the product of contiguous copies.
  auto a = rand64({7, 11}, 33, false), b = rand64({11, 6}, 34, false);
  auto ref = naive_matmul64(a, b);
  CHECK(max_rel_error(matmul(a.t().contiguous().t(), b), ref) < 1e-13);
  CHECK(max_rel_error(matmul(a, b.t().contiguous().t()), ref) < 1e-13);
  auto big = rand64({9, 20}, 35, false);
  auto sub = big.narrow(0, 1, 7).narrow(1, 3, 11);  // lda = 20 > k = 11
  CHECK(max_rel_error(matmul(sub, b), naive_matmul64(sub.contiguous(), b)) < 1e-13);
}

TEST_CASE("matmul float32 forward and backward match PyTorch") {
  for (const char* name : {"matmul_2d", "matmul_broadcast", "matmul_transposed", "matmul_vec_mat", "matmul_mat_vec"}) {
    auto fx = load_fixture(name);
    const bool transpose_both = fx.meta["mode"] == "transpose_both";
    for_each_backend([&] {
      INFO("fixture " << name);
      auto a = fx.get("a").requires_grad_(), b = fx.get("b").requires_grad_();
      auto y = transpose_both ? matmul(a.transpose(-1, -2), b.transpose(-1, -2)) : matmul(a, b);
      CHECK(y.dtype() == DType::Float32);
      // float32 against the float64 reference: error of a k-term sum, ~1e-7 relative
      CHECK(max_rel_error(y, fx.get("y", DType::Float64)) <= 1e-5);
      // torch's own float32 product is as far from the reference (a check of the fixture itself)
      CHECK(max_rel_error(fx.get("y_torch32", DType::Float64), fx.get("y", DType::Float64)) <= 1e-5);
      sum(mul(y, fx.get("g"))).backward();
      CHECK(max_rel_error(a.grad(), fx.get("ga", DType::Float64)) <= 1e-5);
      CHECK(max_rel_error(b.grad(), fx.get("gb", DType::Float64)) <= 1e-5);
    });
  }
}

TEST_CASE("every GEMM backend matches a naive triple loop at odd sizes, transposes and padded leading dims") {
  INFO("default backend: " << std::string(cpu::gemm_backend_name()));
  struct Size {
    int64_t m, n, k;
  };
  for (Size s : {Size{37, 53, 29}, Size{1, 1, 1}, Size{1, 300, 7}, Size{300, 1, 7}, Size{7, 5, 300}, Size{65, 33, 129},
                 Size{3, 4, 0}}) {
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        check_gemm<float>(ta, tb, s.m, s.n, s.k, 0, 1.0f, 0.0f);
        check_gemm<float>(ta, tb, s.m, s.n, s.k, 3, -0.5f, 1.5f);  // lda > k, beta accumulates
        check_gemm<double>(ta, tb, s.m, s.n, s.k, 0, 1.0, 0.0);
        check_gemm<double>(ta, tb, s.m, s.n, s.k, 5, 2.0, -1.0);
      }
  }
  // large enough that both OpenBLAS and Eigen thread the product
  check_gemm<float>(false, true, 257, 131, 300, 1, 1.0f, 0.0f);
  check_gemm<double>(true, false, 131, 257, 300, 2, 1.0, 1.0);
}

TEST_CASE("batched matmul of many small matrices (split across threads) matches per-matrix products") {
  for_each_backend([] {
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      auto a = rand64({9, 6, 7}, 41, false), b = rand64({9, 7, 5}, 42, false);
      auto y = matmul(a.to(DType::Float32), b.to(DType::Float32));
      for (int64_t i = 0; i < 9; ++i) {
        auto ref = naive_matmul64(a.select(0, i).contiguous(), b.select(0, i).contiguous());
        CHECK(max_rel_error(y.select(0, i), ref) < 1e-5);
      }
    }
  });
  set_num_threads(2);
}

TEST_CASE("a batch against one shared matrix (folded into one GEMM where the strides allow) is right") {
  for_each_backend([] {
    RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0], x[1]); }), {rand64({3, 4, 5}, 43), rand64({5, 6}, 44)});
    RESA_GRADCHECK(Fn([](auto& x) { return matmul(x[0], x[1]); }), {rand64({2, 1, 3, 5}, 45), rand64({5, 2}, 46)});
    auto w = rand64({5, 6}, 47, false);
    auto big = rand64({2, 4, 8}, 48, false);
    // (2, 3, 5) views of (2, 4, 8): rows padded (lda = 8) and batches that do or do not follow on
    for (const Tensor& a : {big.narrow(2, 0, 5), big.narrow(1, 0, 3).narrow(2, 2, 5), rand64({2, 3, 5}, 49, false),
                            rand64({2, 5, 3}, 50, false).transpose(1, 2), rand64({2, 1, 5}, 51, false)}) {
      for (const Tensor& b : {w, w.t().contiguous().t()}) {
        auto y = matmul(a, b);
        REQUIRE(y.shape() == Shape{2, a.size(1), 6});
        for (int64_t i = 0; i < 2; ++i)
          CHECK(max_rel_error(y.select(0, i), naive_matmul64(a.select(0, i).contiguous(), b.contiguous())) < 1e-13);
      }
    }
  });
}

TEST_CASE("resa::set_num_threads governs OpenBLAS, also from another thread") {
  std::vector<float> a(256 * 256, 1.0f), c(256 * 256);
  auto run = [&] {
    cpu::gemm(GemmBackend::OpenBLAS, false, false, 256, 256, 256, 1.f, a.data(), 256, a.data(), 256, 0.f, c.data(),
              256);
  };
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    run();
    CHECK(openblas_get_num_threads() == threads);
    CHECK(c[12345] == 256.0f);
  }
  // A thread that never called set_num_threads still uses the engine's count.
  set_num_threads(1);
  int seen = -1;
  std::thread worker([&] {
    run();
    seen = openblas_get_num_threads();
  });
  worker.join();
  CHECK(seen == 1);
  set_num_threads(2);
}

TEST_CASE("the GEMM backend can be chosen and says which it is") {
  const GemmBackend saved = cpu::gemm_backend();
  CHECK(std::string(cpu::gemm_backend_name(GemmBackend::OpenBLAS)).rfind("openblas", 0) == 0);
  cpu::set_gemm_backend(GemmBackend::OpenBLAS);
  CHECK(std::string(cpu::gemm_backend_name()).find("core ") != std::string::npos);
  if (cpu::gemm_backend_available(GemmBackend::EigenAVX2)) {
    cpu::set_gemm_backend(GemmBackend::EigenAVX2);
    CHECK(std::string(cpu::gemm_backend_name()) == "eigen-avx2");
  } else {
    RESA_CHECK_THROWS_WITH_SUBSTR(cpu::set_gemm_backend(GemmBackend::EigenAVX2), "not available");
  }
  cpu::set_gemm_backend(saved);
  // leading dims too small for the matrix are an error, not a silent BLAS message
  std::vector<float> x(64, 1.0f);
  RESA_CHECK_THROWS_WITH_SUBSTR(cpu::gemm(false, false, 4, 4, 4, 1.f, x.data(), 3, x.data(), 4, 0.f, x.data(), 4),
                                "leading dims");
}

TEST_CASE("matmul shape errors name the op and both shapes") {
  RESA_CHECK_THROWS_WITH_SUBSTR(matmul(zeros({64, 512}), zeros({256, 10})),
                                "[matmul] (64, 512) x (256, 10): inner dimensions 512 and 256 differ");
  RESA_CHECK_THROWS_WITH_SUBSTR(matmul(zeros({2, 3, 4}), zeros({3, 4, 5})), "[matmul]");
  RESA_CHECK_THROWS_WITH_SUBSTR(matmul(zeros({3, 4}), zeros({4, 5}, TensorOptions().dtype(DType::Float64))), "matmul");
}

TEST_CASE("matmul with an empty inner dimension gives zeros") {
  auto y = matmul(zeros({3, 0}), zeros({0, 4}));
  CHECK(y.shape() == Shape{3, 4});
  CHECK(max_abs_error(y, zeros({3, 4})) == 0.0);
  CHECK(matmul(zeros({0, 5}), zeros({5, 4})).shape() == Shape{0, 4});
}
