// The hot loops in each vector-ISA version (ops/cpu/isa.h): every version this CPU runs must give the same
// bits as the baseline one, and the baseline must match float64 references within bounds derived from
// its summation order. The test prints which versions it ran.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "resa/core/error.h"
#include "resa/ops/cpu/isa.h"

using namespace resa;
using namespace resa::cpu;

namespace {

std::vector<Isa> runnable() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Baseline, Isa::Avx2, Isa::Avx512})
    if (isa_runs(isa)) out.push_back(isa);
  return out;
}

template <typename T>
std::vector<T> random_vec(size_t n, uint64_t seed, double mean = 0.0, double sd = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(mean, sd);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(d(rng));
  return v;
}

// Whether a and b hold the same bits; prints the first difference.
template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) {
      std::printf("first difference at element %zu of %zu: %.17g vs %.17g\n", i, a.size(), double(a[i]), double(b[i]));
      return false;
    }
  return true;
}

// Everything one version computes on fixed inputs, flattened for comparison.
template <typename T>
std::vector<T> run_all(const IsaKernels<T>& k) {
  std::vector<T> out;
  auto append = [&](const std::vector<T>& v) { out.insert(out.end(), v.begin(), v.end()); };
  // Batch norm: rows shorter than the lanes, plane-sized, longer than a flush block, and L = 1.
  using Dims = std::array<int64_t, 3>;
  for (auto [n, c, l] : {Dims{5, 3, 7}, Dims{9, 4, 49}, Dims{3, 2, 1500}, Dims{64, 5, 1}}) {
    const size_t size = static_cast<size_t>(n * c * l);
    auto x = random_vec<T>(size, 1 + l, 0.7, 1.3), dy = random_vec<T>(size, 2 + l);
    auto w = random_vec<T>(c, 3), b = random_vec<T>(c, 4);
    for (bool relu : {false, true}) {  // plain, and fused with a ReLU (whose output masks dy)
      std::vector<T> y(size), mean(c), invstd(c), rm(c, T(0.1)), rv(c, T(0.9)), dx(size), dw(c), db(c);
      k.bn_train(n, c, l, 0, c, x.data(), w.data(), b.data(), 1e-5, 0.1, relu, y.data(), mean.data(), invstd.data(),
                 rm.data(), rv.data());
      for (bool training : {true, false}) {
        k.bn_backward(n, c, l, 0, c, dy.data(), x.data(), w.data(), mean.data(), invstd.data(), training,
                      relu ? y.data() : nullptr, dx.data(), dw.data(), db.data());
        append(dx), append(dw), append(db);
      }
      append(y), append(mean), append(invstd), append(rm), append(rv);
      k.bn_eval(n, c, l, 0, c, x.data(), w.data(), nullptr, rm.data(), rv.data(), 1e-5, relu, y.data(), mean.data(),
                invstd.data());
      append(y);
    }
  }
  // im2col / col2im: a padded 3x3, strided ones, and a "same" 3x3 for the flat-copy form. The strided
  // shapes reach the vector versions' stride-2 rows: 8 and more columns with a partial last block (14,
  // 17), rows of 4, a 1x1, stride 1 down with 2 across, no padding, and dilation down.
  const ops::ConvShape shapes[] = {
      {1, 3, 9, 11, 4, 3, 3, 9, 11, 1, 1, 1, 1, 1, 1},   {1, 2, 10, 7, 4, 3, 3, 5, 4, 2, 2, 1, 1, 1, 1},
      {1, 2, 28, 28, 4, 3, 3, 14, 14, 2, 2, 1, 1, 1, 1}, {1, 2, 32, 33, 4, 3, 3, 16, 17, 2, 2, 1, 1, 1, 1},
      {1, 2, 7, 7, 4, 1, 1, 4, 4, 2, 2, 0, 0, 1, 1},     {1, 2, 9, 21, 3, 3, 3, 7, 10, 1, 2, 0, 0, 1, 1},
      {1, 2, 11, 20, 3, 3, 3, 5, 10, 2, 2, 1, 1, 2, 1}};
  for (const auto& g : shapes) {
    const int64_t crs = g.c * g.r * g.s, pq = g.p * g.q;
    auto x = random_vec<T>(static_cast<size_t>(g.c * g.h * g.w), 5);
    std::vector<T> col(static_cast<size_t>(crs * pq)), dxs(x.size(), T(0));
    k.im2col(g, x.data(), col.data(), pq);
    append(col);
    const T guard = T(-777.25);
    std::vector<T> gathered(col.size() + 16, guard);  // 16 values past the matrix that must stay as they are
    k.im2col_gather(g, x.data(), gathered.data(), pq);
    CHECK(std::vector<T>(gathered.end() - 16, gathered.end()) == std::vector<T>(16, guard));
    gathered.resize(col.size());
    CHECK(same_bits(gathered, col));  // the gather form is the row-by-row one
    append(gathered);
    if (g.stride_w == 1) {
      k.im2col_same_width(g, x.data(), col.data(), pq);
      append(col);
    }
    k.col2im(g, col.data(), dxs.data(), pq);
    append(dxs);
    std::vector<T> scattered(x.size(), T(0));
    k.col2im_scatter(g, col.data(), scattered.data(), pq);
    CHECK(same_bits(scattered, dxs));  // the table form adds the same numbers in the same order
    append(scattered);
  }
  // Winograd: weights of 4 x 3 filters, then one 6x6 plane (padding 1) in and out.
  {
    const ops::ConvShape g{1, 3, 6, 6, 4, 3, 3, 6, 6, 1, 1, 1, 1, 1, 1};
    auto w = random_vec<T>(static_cast<size_t>(g.k * g.c * 9), 6);
    std::vector<T> u(static_cast<size_t>(16 * g.k * g.c));
    k.winograd_weight(g, w.data(), u.data(), 0, g.k * g.c);
    append(u);
    const int64_t tp = 3, tq = 3, tiles = 9;
    auto plane = random_vec<T>(36, 7), m = random_vec<T>(static_cast<size_t>(16 * tiles), 8);
    std::vector<T> v(static_cast<size_t>(16 * tiles)), buf(1024), yp(36);
    k.winograd_input(g, plane.data(), tp, tq, v.data(), tiles, buf.data());
    k.winograd_output(g, m.data(), tiles, tp, tq, T(0.25), yp.data(), buf.data());
    append(v), append(yp);
  }
  // Winograd F(4x4, 3x3) on two images of two channels: planes of 1, 2, 7, 8, 9, 10 and 17 tiles a row
  // (the eight-tile blocks of the vector versions, full and partial; blocks wholly inside the row from
  // 40 columns; with AVX-512, rows of 1 and 2 tiles gathered sixteen tiles at a time: 32 and 20 tiles,
  // across the two images, from 30x6 and 37x4), padding 0, 1 and 2 (zero rows and columns, partial tiles), a plane
  // wider than high with different paddings down and across; the input, output and weight-gradient transforms, with the
  // rows ld apart, each with a buffer of the size isa.h gives it and a guard after it that must stay untouched.
  using Plane = std::array<int64_t, 4>;  // h, w, pad_h, pad_w
  for (auto [h, w, ph, pw] : {Plane{6, 6, 1, 1}, Plane{28, 28, 1, 1}, Plane{30, 30, 2, 2}, Plane{34, 34, 1, 1},
                              Plane{37, 37, 2, 2}, Plane{40, 40, 0, 0}, Plane{70, 70, 1, 1}, Plane{9, 37, 2, 0},
                              Plane{5, 3, 1, 0}, Plane{30, 6, 1, 1}, Plane{37, 4, 1, 0}, Plane{4, 4, 1, 1}}) {
    INFO("plane " << h << "x" << w << " padding " << ph << ", " << pw);
    const int64_t p = h + 2 * ph - 2, q = w + 2 * pw - 2, tp = (p + 3) / 4, tq = (q + 3) / 4;
    const int64_t nt = 2 * tp * tq, ld = 2 * nt + 5;
    const ops::ConvShape g{2, 2, h, w, 2, 3, 3, p, q, 1, 1, ph, pw, 1, 1};
    auto x = random_vec<T>(static_cast<size_t>(2 * 2 * h * w), 13 + h + w);
    auto m = random_vec<T>(static_cast<size_t>(36 * ld), 14 + h + w);
    std::vector<T> v(static_cast<size_t>(36 * ld)), y(static_cast<size_t>(2 * 2 * p * q)),
        d(static_cast<size_t>(36 * ld));
    const T guard = T(-12345.5);
    auto buffer = [&](int64_t size) { return std::vector<T>(static_cast<size_t>(size + 64), guard); };
    auto untouched_past = [&](const std::vector<T>& buf, int64_t size) {
      for (size_t i = static_cast<size_t>(size); i < buf.size(); ++i)
        if (buf[i] != guard) return false;
      return true;
    };
    const int64_t in_size = 36 * (nt + 8) + 4 * tq + 2, out_size = 40 * nt + 8, grad_size = 40 * nt + 128;
    for (int64_t c = 0; c < 2; ++c) {
      auto buf = buffer(in_size);
      k.winograd4_input(g, x.data(), 0, 2, c, tp, tq, v.data() + c * nt, ld, buf.data());
      CHECK(untouched_past(buf, in_size));
    }
    for (int64_t kk = 0; kk < 2; ++kk) {
      auto obuf = buffer(out_size), gbuf = buffer(grad_size);
      k.winograd4_output(g, m.data() + kk * nt, ld, 0, 2, kk, tp, tq, T(0.5), y.data(), obuf.data());
      k.winograd4_grad_output(g, y.data(), 0, 2, kk, tp, tq, d.data() + kk * nt, ld, gbuf.data());
      CHECK(untouched_past(obuf, out_size));
      CHECK(untouched_past(gbuf, grad_size));
    }
    append(v), append(y), append(d);
  }
  // SGD with momentum (first step and later), Nesterov, and the EMA.
  {
    auto p = random_vec<T>(1000, 9), g = random_vec<T>(1000, 10), buf = random_vec<T>(1000, 11);
    ops::SgdParams o;
    o.lr = 0.3, o.momentum = 0.9, o.weight_decay = 1e-4, o.dampening = 0.1;
    k.sgd(0, 1000, p.data(), g.data(), buf.data(), o, true);
    k.sgd(3, 997, p.data(), g.data(), buf.data(), o, false);
    o.nesterov = true;
    k.sgd(0, 1000, p.data(), g.data(), buf.data(), o, false);
    auto t = random_vec<T>(1000, 12);
    k.ema(0, 1000, t.data(), p.data(), 0.996);
    append(p), append(buf), append(t);
  }
  return out;
}

}  // namespace

TEST_CASE("every ISA version of the hot loops this CPU runs gives the baseline's bits") {
  std::string ran;
  const auto base32 = run_all(isa_kernel_table(Isa::Baseline).f32);
  const auto base64 = run_all(isa_kernel_table(Isa::Baseline).f64);
  for (Isa isa : runnable()) {
    ran += std::string(ran.empty() ? "" : ", ") + isa_name(isa);
    INFO("version: " << std::string(isa_name(isa)));
    CHECK(same_bits(run_all(isa_kernel_table(isa).f32), base32));
    CHECK(same_bits(run_all(isa_kernel_table(isa).f64), base64));
  }
  std::printf("hot-loop versions run and compared: %s (active: %s)\n", ran.c_str(), isa_name(active_isa()));
  CHECK(!ran.empty());
}

TEST_CASE("float32 batch-norm statistics of the active version within the bound of their summation order") {
  // A lane holds at most 2 * 1024 / 16 + 16 = 144 terms between flushes into double, so each sum's
  // rounding is at most ~144 u times the sum of the magnitudes (u = 2^-24); the deviations add 2 u each.
  const double u = std::ldexp(1.0, -24), kmax = 144;
  const auto& k = isa_kernels<float>();
  using Dims = std::array<int64_t, 3>;
  for (auto [n, c, l] : {Dims{7, 3, 49}, Dims{4, 2, 3000}, Dims{300, 2, 1}, Dims{64, 2, 196}, Dims{1000, 1, 16}}) {
    auto x = random_vec<float>(static_cast<size_t>(n * c * l), 21, 3.0, 0.5);
    std::vector<float> y(x.size()), mean(c), invstd(c);
    k.bn_train(n, c, l, 0, c, x.data(), nullptr, nullptr, 0.0, 0.1, false, y.data(), mean.data(), invstd.data(),
               nullptr, nullptr);
    for (int64_t ch = 0; ch < c; ++ch) {
      double s = 0, sa = 0, ss = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < l; ++j) s += x[(i * c + ch) * l + j], sa += std::abs(x[(i * c + ch) * l + j]);
      const double mu = s / double(n * l);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < l; ++j) ss += (x[(i * c + ch) * l + j] - mu) * (x[(i * c + ch) * l + j] - mu);
      const double is = 1.0 / std::sqrt(ss / double(n * l));
      INFO("n " << n << " c " << c << " l " << l << " channel " << ch);
      CHECK(std::abs(mean[ch] - mu) <= (kmax + 2) * u * sa / double(n * l));
      // var's relative error <= (kmax + 3) u, halved by the square root, plus the float rounding of invstd.
      CHECK(std::abs(invstd[ch] - is) <= ((kmax + 3) / 2 + 2) * u * is);
    }
  }
}

TEST_CASE("batch norm over groups of channels gives the bits of one channel at a time") {
  // The loops take 4 channels at a time (a thread's last ones alone); a range of one channel is the
  // plain one-channel loop. Shapes: rows shorter than the lanes, a plane, a row past a flush block.
  using Dims = std::array<int64_t, 3>;
  for (Isa isa : runnable()) {
    const auto& k = isa_kernel_table(isa).f32;
    for (auto [n, c, l] : {Dims{6, 9, 5}, Dims{8, 6, 49}, Dims{3, 5, 1100}}) {
      INFO("version " << std::string(isa_name(isa)) << ", n " << n << " c " << c << " l " << l);
      const size_t size = static_cast<size_t>(n * c * l);
      auto x = random_vec<float>(size, 41, 0.4, 1.2), dy = random_vec<float>(size, 42);
      auto w = random_vec<float>(c, 43), b = random_vec<float>(c, 44);
      for (bool relu : {false, true}) {
        std::vector<float> y(size), y1(size), mean(c), mean1(c), invstd(c), invstd1(c), rm(c, 0.1f), rm1(c, 0.1f),
            rv(c, 0.9f), rv1(c, 0.9f);
        k.bn_train(n, c, l, 0, c, x.data(), w.data(), b.data(), 1e-5, 0.1, relu, y.data(), mean.data(), invstd.data(),
                   rm.data(), rv.data());
        for (int64_t ch = 0; ch < c; ++ch)
          k.bn_train(n, c, l, ch, ch + 1, x.data(), w.data(), b.data(), 1e-5, 0.1, relu, y1.data(), mean1.data(),
                     invstd1.data(), rm1.data(), rv1.data());
        CHECK(same_bits(y, y1));
        CHECK(same_bits(mean, mean1));
        CHECK(same_bits(invstd, invstd1));
        CHECK(same_bits(rm, rm1));
        CHECK(same_bits(rv, rv1));
        const float* relu_out = relu ? y.data() : nullptr;
        std::vector<float> dx(size), dx1(size), dw(c), dw1(c), db(c), db1(c), dw0(c), db0(c);
        k.bn_backward(n, c, l, 0, c, dy.data(), x.data(), w.data(), mean.data(), invstd.data(), true, relu_out,
                      dx.data(), dw.data(), db.data());
        for (int64_t ch = 0; ch < c; ++ch)
          k.bn_backward(n, c, l, ch, ch + 1, dy.data(), x.data(), w.data(), mean.data(), invstd.data(), true, relu_out,
                        dx1.data(), dw1.data(), db1.data());
        // Without dx the masked gradient goes through the kernel's own scratch rows.
        k.bn_backward(n, c, l, 0, c, dy.data(), x.data(), w.data(), mean.data(), invstd.data(), true, relu_out, nullptr,
                      dw0.data(), db0.data());
        CHECK(same_bits(dx, dx1));
        CHECK(same_bits(dw, dw1));
        CHECK(same_bits(db, db1));
        CHECK(same_bits(dw0, dw));
        CHECK(same_bits(db0, db));
      }
    }
  }
}

TEST_CASE("the active ISA can be switched to any version the CPU runs, and only to those") {
  const Isa before = active_isa();
  for (Isa isa : {Isa::Baseline, Isa::Avx2, Isa::Avx512}) {
    if (isa_runs(isa)) {
      set_active_isa(isa);
      CHECK(active_isa() == isa);
      CHECK(&isa_kernels<float>() == &isa_kernel_table(isa).f32);
    } else {
      CHECK_THROWS_AS(set_active_isa(isa), Error);
    }
  }
  set_active_isa(before);
  CHECK(isa_runs(Isa::Baseline));
}

TEST_CASE("batch norm + ReLU fused gives the bits of batch norm, then ReLU, then the ReLU's backward") {
  for (Isa isa : runnable()) {
    INFO("version: " << std::string(isa_name(isa)));
    const auto& k = isa_kernel_table(isa).f64;
    const int64_t n = 9, c = 4, l = 49;
    const size_t size = n * c * l;
    auto x = random_vec<double>(size, 31, 0.2, 1.1), dy = random_vec<double>(size, 32);
    auto w = random_vec<double>(c, 33), b = random_vec<double>(c, 34);
    std::vector<double> y(size), yf(size), mean(c), invstd(c), dx(size), dxf(size), dw(c), dwf(c), db(c), dbf(c);
    k.bn_train(n, c, l, 0, c, x.data(), w.data(), b.data(), 1e-5, 0.1, false, y.data(), mean.data(), invstd.data(),
               nullptr, nullptr);
    k.bn_train(n, c, l, 0, c, x.data(), w.data(), b.data(), 1e-5, 0.1, true, yf.data(), mean.data(), invstd.data(),
               nullptr, nullptr);
    std::vector<double> relu_y(size), masked(size);
    for (size_t i = 0; i < size; ++i) relu_y[i] = y[i] > 0 ? y[i] : 0.0, masked[i] = relu_y[i] > 0 ? dy[i] : 0.0;
    CHECK(same_bits(yf, relu_y));
    k.bn_backward(n, c, l, 0, c, masked.data(), x.data(), w.data(), mean.data(), invstd.data(), true, nullptr,
                  dx.data(), dw.data(), db.data());
    k.bn_backward(n, c, l, 0, c, dy.data(), x.data(), w.data(), mean.data(), invstd.data(), true, yf.data(), dxf.data(),
                  dwf.data(), dbf.data());
    CHECK(same_bits(dxf, dx));
    CHECK(same_bits(dwf, dw));
    CHECK(same_bits(dbf, db));
  }
}
