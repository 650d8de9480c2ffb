// The fast CPU paths against simple references, at odd sizes and with 1, 2 and 3 threads: the fused
// SGD update (against a scalar double loop of torch.optim.SGD's formula and against the tensor-op path
// that CUDA and strided tensors take), the fused EMA update, elementwise ops on contiguous tensors that
// are now split across threads, and the caching host allocator.
#include <array>
#include <cmath>
#include <vector>

#include "resa/core/parallel.h"
#include "resa/core/storage.h"
#include "resa/nn/ema.h"
#include "resa/nn/optim/optimizer.h"
#include "resa/ops/cpu/batchnorm.h"
#include "resa/ops/cpu/conv.h"
#include "resa/ops/cpu/conv_implicit.h"
#include "resa/ops/cpu/conv_winograd.h"
#include "resa/ops/cpu/isa.h"
#include "resa/ops/cpu/optim.h"
#include "resa/ops/elementwise.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;

namespace {

Tensor randn32(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return randn(s, {}, &g);
}

// The same values in a transposed (non-contiguous) layout: rows x cols viewed from a cols x rows buffer.
Tensor strided_copy(const Tensor& t) {
  Tensor base = t.detach().transpose(0, 1).contiguous();
  return base.transpose(0, 1);
}

// torch.optim.SGD's formula in double, element by element, over `steps` steps with fixed gradients.
std::vector<double> sgd_reference(std::vector<double> p, const std::vector<std::vector<double>>& grads, double lr,
                                  double wd, double mom, double damp, bool nesterov) {
  std::vector<double> buf(p.size(), 0.0);
  for (size_t s = 0; s < grads.size(); ++s)
    for (size_t i = 0; i < p.size(); ++i) {
      double d = grads[s][i] + wd * p[i];
      if (mom != 0) {
        buf[i] = s == 0 ? d : mom * buf[i] + (1 - damp) * d;
        d = nesterov ? d + mom * buf[i] : buf[i];
      }
      p[i] -= lr * d;
    }
  return p;
}

// max|a - b| / max|b|, as max_rel_error for tensors.
double vec_rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double num = 0, den = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::abs(static_cast<double>(a[i]) - b[i]));
    den = std::max(den, std::abs(static_cast<double>(b[i])));
  }
  return num / den;
}

// |B^T|, |G| and |A^T| of Winograd F(4x4, 3x3) (ops/cpu/conv_winograd.h), for the bounds below.
const double bt[6][6] = {{4, 0, 5, 0, 1, 0}, {0, 4, 4, 1, 1, 0}, {0, 4, 4, 1, 1, 0},
                         {0, 2, 1, 2, 1, 0}, {0, 2, 1, 2, 1, 0}, {0, 4, 0, 5, 0, 1}};
const double gm[6][3] = {{0.25, 0, 0},
                         {1. / 6, 1. / 6, 1. / 6},
                         {1. / 6, 1. / 6, 1. / 6},
                         {1. / 24, 1. / 12, 1. / 6},
                         {1. / 24, 1. / 12, 1. / 6},
                         {0, 0, 1}};
const double at[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, 1, 2, 2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, 1, 8, 8, 1}};

// The rounding bound of Winograd F(4x4, 3x3) on one convolution, per output element: the same
// computation on absolute values in float64, |A^T| (sum over c of (|G| |g| |G^T|) . (|B^T| |d| |B|)) |A|
// per 4x4 tile (d the zero-padded 6x6 input block), times 2 (C + 16) eps32, plus eps32 |b|: the worst
// case of the weight and input transforms (a few roundings each, relative to those magnitudes), the
// sum of C products and the output transform, with the same factor of 2 as the other bounds here.
std::vector<double> winograd4_bound(const cpu::ConvShape& g, const std::vector<float>& x, const std::vector<float>& w,
                                    const std::vector<float>* b) {
  const int64_t tp = (g.p + 3) / 4, tq = (g.q + 3) / 4;
  std::vector<double> bound(static_cast<size_t>(g.n * g.k * g.p * g.q), 0.0);
  // |U| per (k, c) and |V| per (n, c, tile), each 6x6.
  std::vector<double> u(static_cast<size_t>(g.k * g.c * 36)), v(static_cast<size_t>(g.n * g.c * tp * tq * 36));
  for (int64_t kc = 0; kc < g.k * g.c; ++kc)
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) {
        double acc = 0;
        for (int a = 0; a < 3; ++a)
          for (int c2 = 0; c2 < 3; ++c2) acc += gm[i][a] * std::fabs(w[kc * 9 + a * 3 + c2]) * gm[j][c2];
        u[kc * 36 + i * 6 + j] = acc;
      }
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t ti = 0; ti < tp; ++ti)
        for (int64_t tj = 0; tj < tq; ++tj) {
          double d[6][6];
          for (int a = 0; a < 6; ++a)
            for (int e = 0; e < 6; ++e) {
              const int64_t h = 4 * ti + a - g.pad_h, ww = 4 * tj + e - g.pad_w;
              d[a][e] =
                  h >= 0 && h < g.h && ww >= 0 && ww < g.w ? std::fabs(x[((n * g.c + c) * g.h + h) * g.w + ww]) : 0;
            }
          double* vt = &v[static_cast<size_t>((((n * g.c + c) * tp + ti) * tq + tj) * 36)];
          for (int i = 0; i < 6; ++i)
            for (int j = 0; j < 6; ++j) {
              double acc = 0;
              for (int a = 0; a < 6; ++a)
                for (int e = 0; e < 6; ++e) acc += bt[i][a] * d[a][e] * bt[j][e];
              vt[i * 6 + j] = acc;
            }
        }
  const double tol = 2.0 * static_cast<double>(g.c + 16) * 0x1p-24;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t k = 0; k < g.k; ++k)
      for (int64_t ti = 0; ti < tp; ++ti)
        for (int64_t tj = 0; tj < tq; ++tj) {
          double m[36] = {};
          for (int64_t c = 0; c < g.c; ++c) {
            const double* ut = &u[static_cast<size_t>((k * g.c + c) * 36)];
            const double* vt = &v[static_cast<size_t>((((n * g.c + c) * tp + ti) * tq + tj) * 36)];
            for (int e = 0; e < 36; ++e) m[e] += ut[e] * vt[e];
          }
          for (int r = 0; r < 4; ++r)
            for (int cc = 0; cc < 4; ++cc) {
              const int64_t p = 4 * ti + r, q = 4 * tj + cc;
              if (p >= g.p || q >= g.q) continue;
              double acc = 0;
              for (int i = 0; i < 6; ++i)
                for (int j = 0; j < 6; ++j) acc += at[r][i] * m[i * 6 + j] * at[cc][j];
              bound[static_cast<size_t>(((n * g.k + k) * g.p + p) * g.q + q)] =
                  tol * acc + (b ? 0x1p-24 * std::fabs((*b)[static_cast<size_t>(k)]) : 0.0);
            }
        }
  return bound;
}

// The same for the weight gradient: |G^T| (sum over images and tiles of (|A| |dy| |A^T|) . (|B^T| |d| |B|))
// |G| per filter, times 2 (N T + 16) eps32 (T tiles per image: the length of the GEMMs' sums).
std::vector<double> winograd4_weight_bound(const cpu::ConvShape& g, const std::vector<float>& x,
                                           const std::vector<float>& dy) {
  const int64_t tp = (g.p + 3) / 4, tq = (g.q + 3) / 4, tiles = tp * tq;
  std::vector<double> v(static_cast<size_t>(g.n * g.c * tiles * 36)), d(static_cast<size_t>(g.n * g.k * tiles * 36));
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t ti = t / tq, tj = t % tq;
      for (int64_t c = 0; c < g.c; ++c) {
        double* vt = &v[static_cast<size_t>(((n * g.c + c) * tiles + t) * 36)];
        for (int i = 0; i < 6; ++i)
          for (int j = 0; j < 6; ++j) {
            double acc = 0;
            for (int a = 0; a < 6; ++a)
              for (int e = 0; e < 6; ++e) {
                const int64_t h = 4 * ti + a - g.pad_h, w = 4 * tj + e - g.pad_w;
                if (h >= 0 && h < g.h && w >= 0 && w < g.w)
                  acc += bt[i][a] * std::fabs(x[((n * g.c + c) * g.h + h) * g.w + w]) * bt[j][e];
              }
            vt[i * 6 + j] = acc;
          }
      }
      for (int64_t k = 0; k < g.k; ++k) {
        double* dt = &d[static_cast<size_t>(((n * g.k + k) * tiles + t) * 36)];
        for (int i = 0; i < 6; ++i)
          for (int j = 0; j < 6; ++j) {
            double acc = 0;
            for (int r = 0; r < 4; ++r)
              for (int cc = 0; cc < 4; ++cc) {
                const int64_t p = 4 * ti + r, q = 4 * tj + cc;
                if (p < g.p && q < g.q)
                  acc += at[r][i] * std::fabs(dy[((n * g.k + k) * g.p + p) * g.q + q]) * at[cc][j];
              }
            dt[i * 6 + j] = acc;
          }
      }
    }
  const double tol = 2.0 * static_cast<double>(g.n * tiles + 16) * 0x1p-24;
  std::vector<double> bound(static_cast<size_t>(g.k * g.c * 9));
  for (int64_t k = 0; k < g.k; ++k)
    for (int64_t c = 0; c < g.c; ++c) {
      double m[36] = {};
      for (int64_t n = 0; n < g.n; ++n)
        for (int64_t t = 0; t < tiles; ++t) {
          const double* vt = &v[static_cast<size_t>(((n * g.c + c) * tiles + t) * 36)];
          const double* dt = &d[static_cast<size_t>(((n * g.k + k) * tiles + t) * 36)];
          for (int e = 0; e < 36; ++e) m[e] += vt[e] * dt[e];
        }
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) {
          double acc = 0;
          for (int i = 0; i < 6; ++i)
            for (int j = 0; j < 6; ++j) acc += gm[i][a] * m[i * 6 + j] * gm[j][b];
          bound[static_cast<size_t>((k * g.c + c) * 9 + a * 3 + b)] = tol * acc;
        }
    }
  return bound;
}

// How many elements of y lie farther than bound from the float64 result y64.
int64_t count_outside(const std::vector<float>& y, const std::vector<double>& y64, const std::vector<double>& bound) {
  int64_t bad = 0;
  for (size_t i = 0; i < y.size(); ++i)
    if (!(std::fabs(y[i] - y64[i]) <= bound[i])) ++bad;
  return bad;
}

}  // namespace

TEST_CASE("fused SGD update matches torch.optim.SGD's formula and the tensor-op path at odd sizes") {
  ThreadsGuard tg;
  struct Cfg {
    double lr, wd, mom, damp;
    bool nesterov;
  };
  const std::vector<Cfg> cfgs = {{0.05, 1e-4, 0.9, 0.0, false},
                                 {0.1, 0.0, 0.0, 0.0, false},
                                 {0.03, 1e-2, 0.8, 0.1, false},
                                 {0.07, 5e-3, 0.9, 0.0, true}};
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (size_t ci = 0; ci < cfgs.size(); ++ci) {
      const Cfg c = cfgs[ci];
      // 23339 x 3 crosses the parallel grain; 37 x 29 stays on one thread.
      for (Shape shape : {Shape{37, 29}, Shape{23339, 3}}) {
        CAPTURE(threads);
        CAPTURE(ci);
        CAPTURE(shape_str(shape));
        Tensor p0 = randn32(shape, 11 + ci);
        Tensor fast = p0.clone().requires_grad_();                 // contiguous: fused path
        Tensor slow = strided_copy(p0).detach().requires_grad_();  // strided: tensor-op path
        REQUIRE(fast.is_contiguous());
        REQUIRE(!slow.is_contiguous());
        auto group = [&](const Tensor& p) {
          nn::ParamGroup g = nn::ParamGroup().set_lr(c.lr).set_weight_decay(c.wd).set_momentum(c.mom);
          g.set_dampening(c.damp).set_nesterov(c.nesterov);
          g.params = {p};
          return std::vector<nn::ParamGroup>{g};
        };
        nn::SGD opt_fast(group(fast)), opt_slow(group(slow));
        std::vector<std::vector<double>> grads;
        for (int s = 0; s < 3; ++s) {
          Tensor g = randn32(shape, 100 + s);
          grads.push_back(g.to_vector<double>());
          fast.set_grad(g.clone());
          slow.set_grad(g.clone());
          opt_fast.step();
          opt_slow.step();
        }
        auto ref = sgd_reference(p0.to_vector<double>(), grads, c.lr, c.wd, c.mom, c.damp, c.nesterov);
        Tensor ref_t = from_vector<double>(ref, shape).to(DType::Float32);
        CHECK(max_rel_error(fast, ref_t) < 1e-5);
        CHECK(max_rel_error(fast, slow.contiguous()) < 1e-6);
        // The momentum buffers agree too (the fused path creates its own).
        auto sf = opt_fast.state_dict(), ss = opt_slow.state_dict();
        CHECK(sf.size() == ss.size());
        if (c.mom != 0) CHECK(max_rel_error(sf.at("0.0.momentum_buffer"), ss.at("0.0.momentum_buffer")) < 1e-6);
      }
    }
  }
}

TEST_CASE("fused SGD update in float64 agrees with the double reference to rounding") {
  Tensor p0 = rand64({13, 7, 3}, 5, false);
  Tensor p = p0.clone().requires_grad_();
  nn::ParamGroup g = nn::ParamGroup().set_lr(0.1).set_weight_decay(1e-3).set_momentum(0.9);
  g.params = {p};
  nn::SGD opt({g});
  std::vector<std::vector<double>> grads;
  for (int s = 0; s < 4; ++s) {
    Tensor gr = rand64({13, 7, 3}, 50 + s, false);
    grads.push_back(gr.to_vector<double>());
    p.set_grad(gr);
    opt.step();
  }
  auto ref = sgd_reference(p0.to_vector<double>(), grads, 0.1, 1e-3, 0.9, 0.0, false);
  CHECK(max_rel_error(p, from_vector<double>(ref, {13, 7, 3})) < 1e-14);
}

TEST_CASE("fused EMA update matches m * t + (1 - m) * s, and strided tensors take the tensor-op path") {
  ThreadsGuard tg;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (Shape shape : {Shape{5, 3}, Shape{40009, 3}}) {
      CAPTURE(threads);
      CAPTURE(shape_str(shape));
      Tensor t0 = randn32(shape, 1), s = randn32(shape, 2);
      const double m = 0.996;
      std::vector<double> ref = t0.to_vector<double>(), sv = s.to_vector<double>();
      for (size_t i = 0; i < ref.size(); ++i) ref[i] = m * ref[i] + (1 - m) * sv[i];
      Tensor ref_t = from_vector<double>(ref, shape).to(DType::Float32);
      Tensor fast = t0.clone();
      nn::ema_tensor(fast, s, m);
      CHECK(max_rel_error(fast, ref_t) < 1e-6);
      Tensor slow = strided_copy(t0);
      nn::ema_tensor(slow, s, m);
      CHECK(max_rel_error(slow.contiguous(), ref_t) < 1e-6);
    }
  }
}

TEST_CASE("elementwise ops on large contiguous tensors (split across threads) match a scalar loop") {
  ThreadsGuard tg;
  const int64_t n = 100003;  // odd, above the parallel grain
  Tensor a = randn32({n}, 3), b = randn32({n}, 4);
  auto va = a.to_vector<float>(), vb = b.to_vector<float>();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    CAPTURE(threads);
    // contiguous + contiguous
    auto sum_v = ops::binary(ops::BinaryOp::Add, a, b).to_vector<float>();
    // contiguous * scalar (broadcast, stride 0)
    Tensor two = full({}, 2.0);
    auto mul_v = ops::binary(ops::BinaryOp::Mul, a, two).to_vector<float>();
    // where(a > 0, a, b)
    Tensor cond = ops::binary(ops::BinaryOp::Gt, a, zeros({}));
    auto where_v = ops::where(cond, a, b).to_vector<float>();
    // copy into a float64 tensor, and fill
    Tensor d = Tensor::empty({n}, DType::Float64);
    d.copy_(a);
    auto copy_v = d.to_vector<double>();
    Tensor f = Tensor::empty({n});
    f.fill_(0.25);
    auto fill_v = f.to_vector<float>();
    bool ok = true;
    for (int64_t i = 0; i < n && ok; ++i) {
      ok = sum_v[i] == va[i] + vb[i] && mul_v[i] == va[i] * 2.0f && where_v[i] == (va[i] > 0 ? va[i] : vb[i]) &&
           copy_v[i] == static_cast<double>(va[i]) && fill_v[i] == 0.25f;
      if (!ok) INFO("first mismatch at " << i);
    }
    CHECK(ok);
    // A broadcast that leaves several rows still goes through the row loop: (3, n) + (n).
    Tensor a3 = randn32({3, 1001}, 8), row = randn32({1001}, 9);
    auto s3 = ops::binary(ops::BinaryOp::Sub, a3, row).to_vector<float>();
    auto v3 = a3.to_vector<float>(), vr = row.to_vector<float>();
    bool ok3 = true;
    for (int64_t i = 0; i < 3 * 1001; ++i) ok3 = ok3 && s3[i] == v3[i] - vr[i % 1001];
    CHECK(ok3);
  }
}

TEST_CASE("the caching host allocator reuses large blocks, keeps small ones out, and counts bytes") {
  const int64_t big = 300007;  // ~1.2 MB of float32: cached when freed
  auto before = cpu_allocator_stats();
  {
    Tensor t = Tensor::empty({big});
    t.fill_(1.5);
    auto during = cpu_allocator_stats();
    CHECK(during.current >= before.current + size_t(big) * 4);
    CHECK(during.peak >= during.current);
  }
  auto freed = cpu_allocator_stats();
  CHECK(freed.cached >= size_t(big) * 4);
  // The same size again comes from the cache: no new system allocation, and the block is usable.
  {
    Tensor t = Tensor::empty({big});
    auto reused = cpu_allocator_stats();
    CHECK(reused.num_allocs == freed.num_allocs);
    CHECK(reused.cached + size_t(big) * 4 <= freed.cached);
    t.fill_(-2.0);
    auto v = t.to_vector<float>();
    CHECK(v.front() == -2.0f);
    CHECK(v.back() == -2.0f);
    CHECK(static_cast<int64_t>(v.size()) == big);
  }
  // Small blocks are not cached.
  auto s0 = cpu_allocator_stats();
  { Tensor small = Tensor::empty({7}); }
  CHECK(cpu_allocator_stats().cached == s0.cached);
}

TEST_CASE("batch-norm kernels (blocked vector sums, float dx) match a plain double reference at odd sizes") {
  ThreadsGuard tg;
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    for (auto [n, c, l] : std::vector<std::array<int64_t, 3>>{{3, 5, 7}, {2, 3, 1}, {4, 2, 45}, {2, 3, 2061}}) {
      CAPTURE(threads);
      CAPTURE(n);
      CAPTURE(c);
      CAPTURE(l);
      auto x = randn32({n, c, l}, 21).to_vector<float>(), dy = randn32({n, c, l}, 22).to_vector<float>();
      auto w = randn32({c}, 23).to_vector<float>(), b = randn32({c}, 24).to_vector<float>();
      const int64_t total = n * c * l;
      std::vector<float> y(total), mean(c), invstd(c), rm(c, 0.5f), rv(c, 2.0f), dx(total), dw(c), db(c);
      cpu::batch_norm_train<float>(n, c, l, x.data(), w.data(), b.data(), 1e-5, 0.1, y.data(), mean.data(),
                                   invstd.data(), rm.data(), rv.data());
      cpu::batch_norm_backward<float>(n, c, l, dy.data(), x.data(), w.data(), mean.data(), invstd.data(), true,
                                      dx.data(), dw.data(), db.data());
      double err = 0;
      const double m = static_cast<double>(n * l);
      for (int64_t ch = 0; ch < c; ++ch) {
        auto at = [&](int64_t i, int64_t j) { return (i * c + ch) * l + j; };
        double s = 0, ss = 0, sdy = 0, sdyx = 0;
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < l; ++j) s += x[at(i, j)];
        const double mu = s / m;
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < l; ++j) ss += (x[at(i, j)] - mu) * (x[at(i, j)] - mu);
        const double is = 1.0 / std::sqrt(ss / m + 1e-5);
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < l; ++j) {
            sdy += dy[at(i, j)];
            sdyx += dy[at(i, j)] * (x[at(i, j)] - mu) * is;
          }
        err = std::max(err, std::abs(mean[ch] - mu) + std::abs(invstd[ch] - is) / is);
        err = std::max(err, std::abs(rm[ch] - (0.9 * 0.5 + 0.1 * mu)));
        if (m > 1) err = std::max(err, std::abs(rv[ch] - (0.9 * 2.0 + 0.1 * ss / (m - 1))));
        err = std::max(err, std::abs(db[ch] - sdy) + std::abs(dw[ch] - sdyx));
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < l; ++j) {
            const double xh = (x[at(i, j)] - mu) * is;
            err = std::max(err, std::abs(y[at(i, j)] - (xh * w[ch] + b[ch])));
            err = std::max(err, std::abs(dx[at(i, j)] - w[ch] * is * (dy[at(i, j)] - sdy / m - xh * sdyx / m)));
          }
      }
      CHECK(err < 1e-4);
    }
  }
}

TEST_CASE("conv2d fast paths (whole-plane im2col, input gradient as a forward conv) match the simple kernels") {
  // Shapes chosen to take every branch: "same" 3x3 and 5x5 (whole-plane copy, turned-kernel input
  // gradient), asymmetric padding, dilation with and without the same width, padding larger than the
  // kernel's reach (no turned-kernel form), strides (col2im), 1x1 with and without padding, planes of one
  // row or one column, small planes that are grouped several images to a GEMM, and Winograd's shapes.
  struct Case {
    int64_t n, c, h, w, k, r, s, sh, sw, ph, pw, dh, dw;
  };
  const std::vector<Case> cases = {
      {3, 2, 7, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1},
      {5, 3, 5, 5, 2, 5, 5, 1, 1, 2, 2, 1, 1},
      {2, 3, 6, 7, 3, 3, 3, 1, 1, 2, 0, 1, 1},
      {2, 2, 9, 8, 3, 3, 3, 1, 1, 2, 2, 2, 2},
      {2, 2, 9, 8, 3, 3, 3, 1, 1, 1, 1, 2, 2},
      {3, 2, 5, 6, 2, 3, 1, 1, 1, 3, 2, 1, 1},
      {3, 4, 9, 7, 5, 3, 3, 2, 2, 1, 1, 1, 1},
      {2, 3, 8, 5, 2, 1, 1, 2, 1, 0, 0, 1, 1},
      {2, 3, 6, 5, 4, 1, 1, 1, 1, 1, 1, 1, 1},
      {3, 3, 1, 9, 2, 1, 3, 1, 1, 0, 1, 1, 1},
      {3, 3, 9, 1, 2, 3, 1, 1, 1, 1, 0, 1, 1},
      {37, 5, 3, 3, 6, 3, 3, 1, 1, 1, 1, 1, 1},
      {2, 2, 4, 4, 2, 2, 2, 1, 1, 1, 1, 1, 1},
      // Winograd F(2x2, 3x3) (3x3, stride 1; also forced below on every such case): odd and even planes (partial
      // tiles), padding 0, 1, 2 and asymmetric, planes smaller than one tile, groups of many images.
      {2, 8, 9, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1},
      {3, 6, 6, 5, 7, 3, 3, 1, 1, 0, 0, 1, 1},
      {2, 5, 5, 6, 4, 3, 3, 1, 1, 2, 2, 1, 1},
      {2, 5, 7, 4, 6, 3, 3, 1, 1, 2, 0, 1, 1},
      {3, 4, 1, 1, 4, 3, 3, 1, 1, 1, 1, 1, 1},
      {41, 6, 4, 4, 9, 3, 3, 1, 1, 1, 1, 1, 1},
      {2, 4, 28, 28, 4, 3, 3, 1, 1, 1, 1, 1, 1},
      {5, 128, 4, 6, 128, 3, 3, 1, 1, 1, 1, 1, 1},
      {3, 32, 15, 15, 32, 3, 3, 1, 1, 1, 1, 1, 1},  // F(4x4, 3x3) from 32 channels (AVX2), partial tiles
      // F(4x4, 3x3) rows of 8 and 9 tiles: one full block of the eight-tile input rows, then a partial one.
      {2, 32, 32, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1},
      {2, 32, 34, 34, 32, 3, 3, 1, 1, 1, 1, 1, 1},
  };
  ThreadsGuard tg;
  for (int threads : {1, 2, 3})
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      const Case& t = cases[ci];
      set_num_threads(threads);
      CAPTURE(threads);
      CAPTURE(ci);
      const int64_t p = (t.h + 2 * t.ph - t.dh * (t.r - 1) - 1) / t.sh + 1;
      const int64_t q = (t.w + 2 * t.pw - t.dw * (t.s - 1) - 1) / t.sw + 1;
      const cpu::ConvShape g{t.n, t.c, t.h, t.w, t.k, t.r, t.s, p, q, t.sh, t.sw, t.ph, t.pw, t.dh, t.dw};
      auto x = randn32({t.n, t.c, t.h, t.w}, 31 + ci).to_vector<float>();
      auto w = randn32({t.k, t.c, t.r, t.s}, 41 + ci).to_vector<float>();
      auto b = randn32({t.k}, 51 + ci).to_vector<float>();
      auto dy = randn32({t.n, t.k, p, q}, 61 + ci).to_vector<float>();
      std::vector<float> y(dy.size()), y_ref(dy.size()), dx(x.size()), dx_ref(x.size(), 7.f);
      std::vector<float> dw(w.size()), dw_ref(w.size()), db(t.k), db_ref(t.k);
      cpu::conv2d_forward<float>(g, x.data(), w.data(), b.data(), y.data());
      cpu::conv2d_forward_reference<float>(g, x.data(), w.data(), b.data(), y_ref.data());
      cpu::conv2d_backward_input<float>(g, dy.data(), w.data(), dx.data());
      cpu::conv2d_backward_input_reference<float>(g, dy.data(), w.data(), dx_ref.data());
      cpu::conv2d_backward_weight<float>(g, x.data(), dy.data(), dw.data(), db.data());
      cpu::conv2d_backward_weight_reference<float>(g, x.data(), dy.data(), dw_ref.data(), db_ref.data());
      if (cpu::winograd::profitable4(g)) {
        // Winograd F(4x4, 3x3) taken: its own bound against float64 (see winograd4_bound).
        std::vector<double> xd(x.begin(), x.end()), wd(w.begin(), w.end()), bd(b.begin(), b.end());
        std::vector<double> y64(dy.size());
        cpu::conv2d_forward_reference<double>(g, xd.data(), wd.data(), bd.data(), y64.data());
        CHECK(count_outside(y, y64, winograd4_bound(g, x, w, &b)) == 0);
      } else {
        CHECK(vec_rel_error(y, y_ref) < 1e-5);
      }
      if (t.r == 3 && t.s == 3 && t.sh == 1 && t.sw == 1 && t.dh == 1 && t.dw == 1) {
        // Winograd, forced (the fast path takes it only for wide layers), here on every 3x3 stride-1 case.
        std::vector<float> y_wg(dy.size(), 7.f);
        cpu::conv2d_forward_winograd<float>(g, x.data(), w.data(), b.data(), y_wg.data());
        CHECK(vec_rel_error(y_wg, y_ref) < 1e-5);
      }
      CHECK(vec_rel_error(dx, dx_ref) < 1e-5);
      CHECK(vec_rel_error(dw, dw_ref) < 1e-5);
      CHECK(vec_rel_error(db, db_ref) < 1e-6);
    }
}

TEST_CASE("implicit-GEMM convolution (AVX2) matches a float64 reference within its rounding bound") {
  // Every kind of shape the kernel computes (ops/cpu/conv_implicit.h, supports(): stride 1, Q == W,
  // K % 4 == 0, >= 8 positions per plane), called directly so that shapes the engine leaves to
  // im2col + GEMM are covered too: 24-position panels inside one image, read in place (28x28, 30x30),
  // or straddling two images and packed (planes of 15, 20, 49 positions), C * R * S rows in several
  // blocks (300 channels: 2700 rows), batches that end inside a vector, chunks of images that start
  // mid-batch, padding of 0, 1 or 2 rows with any kernel height. Then conv2d_forward on shapes the
  // engine does take (small planes), bias included. The float32 result must lie within
  // 2 * (CRS + 1) * eps32 * sum |w| |x| (+ |b|) of the float64 one: the worst-case bound of a sum of
  // CRS products, with room for the split into blocks; a wrong index or mask is off by O(1).
  struct Case {
    int64_t n, c, h, w, k, r, s, ph, pw;
  };
  const std::vector<Case> cases = {
      {3, 16, 28, 28, 32, 3, 3, 1, 1}, {5, 64, 7, 7, 128, 3, 3, 1, 1}, {7, 12, 4, 4, 8, 3, 3, 1, 1},
      {3, 3, 5, 3, 4, 3, 3, 1, 1},     {4, 300, 4, 5, 12, 3, 3, 1, 1}, {3, 5, 6, 9, 4, 5, 5, 2, 2},
      {3, 2, 6, 8, 8, 1, 3, 0, 1},     {2, 7, 9, 6, 4, 3, 1, 2, 0},    {3, 4, 5, 8, 4, 3, 3, 0, 1},
      {1, 1, 9, 9, 4, 3, 3, 1, 1},     {9, 6, 3, 5, 4, 3, 3, 1, 1},    {2, 8, 30, 30, 4, 3, 3, 1, 1},
  };
  if (!cpu::isa_runs(cpu::Isa::Avx2)) {
    MESSAGE("no AVX2 + FMA on this CPU: the implicit-GEMM kernel cannot run here, skipped");
    return;
  }
  // The float64 reference of g and the bound of each output element.
  auto reference = [](const cpu::ConvShape& g, const std::vector<float>& x, const std::vector<float>& w,
                      const std::vector<float>& b, std::vector<double>& y64, std::vector<double>& bound) {
    std::vector<double> xd(x.begin(), x.end()), wd(w.begin(), w.end()), bd(b.begin(), b.end());
    std::vector<double> xa(x.size()), wa(w.size()), ba(b.size());
    for (size_t i = 0; i < x.size(); ++i) xa[i] = std::fabs(xd[i]);
    for (size_t i = 0; i < w.size(); ++i) wa[i] = std::fabs(wd[i]);
    for (size_t i = 0; i < b.size(); ++i) ba[i] = std::fabs(bd[i]);
    y64.assign(static_cast<size_t>(g.n * g.k * g.p * g.q), 0.0);
    bound = y64;
    cpu::conv2d_forward_reference<double>(g, xd.data(), wd.data(), bd.data(), y64.data());
    cpu::conv2d_forward_reference<double>(g, xa.data(), wa.data(), ba.data(), bound.data());
    const double tol = 2.0 * static_cast<double>(g.c * g.r * g.s + 1) * 0x1p-24;
    for (auto& v : bound) v *= tol;
  };
  auto count_bad = [](const std::vector<float>& y, const std::vector<double>& y64, const std::vector<double>& bound) {
    int64_t bad = 0;
    for (size_t i = 0; i < y.size(); ++i)
      if (!(std::fabs(y[i] - y64[i]) <= bound[i])) ++bad;
    return bad;
  };
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& t = cases[ci];
    CAPTURE(ci);
    const int64_t p = t.h + 2 * t.ph - t.r + 1, q = t.w + 2 * t.pw - t.s + 1;
    const cpu::ConvShape g{t.n, t.c, t.h, t.w, t.k, t.r, t.s, p, q, 1, 1, t.ph, t.pw, 1, 1};
    REQUIRE(cpu::implicit::supports(g));
    auto x = randn32({t.n, t.c, t.h, t.w}, 71 + ci).to_vector<float>();
    auto w = randn32({t.k, t.c, t.r, t.s}, 81 + ci).to_vector<float>();
    std::vector<float> zero_b(static_cast<size_t>(t.k), 0.f);
    std::vector<double> y64, bound;
    reference(g, x, w, zero_b, y64, bound);
    std::vector<float> packed(cpu::implicit::packed_weight_size(g));
    cpu::implicit::pack_weights(g, w.data(), packed.data());
    // The whole batch at once, and in two chunks that split it at an odd image.
    for (int64_t split : {int64_t{0}, t.n / 2}) {
      CAPTURE(split);
      std::vector<float> y(y64.size(), 7.f);
      if (split > 0) cpu::implicit::forward_images(g, x.data(), packed.data(), y.data(), 0, split);
      cpu::implicit::forward_images(g, x.data(), packed.data(), y.data(), split, t.n);
      CHECK(count_bad(y, y64, bound) == 0);
    }
  }
  // Through conv2d_forward, with the AVX2 version active: shapes the engine takes (planes of <= 64
  // positions), with a bias, on 1 to 3 threads.
  const cpu::Isa saved = cpu::active_isa();
  cpu::set_active_isa(cpu::Isa::Avx2);
  ThreadsGuard tg;
  const std::vector<Case> taken = {
      {5, 64, 7, 7, 128, 3, 3, 1, 1}, {7, 12, 4, 4, 8, 3, 3, 1, 1}, {9, 8, 3, 5, 4, 3, 3, 1, 1}};
  for (int threads : {1, 2, 3})
    for (size_t ci = 0; ci < taken.size(); ++ci) {
      const Case& t = taken[ci];
      set_num_threads(threads);
      CAPTURE(threads);
      CAPTURE(ci);
      const int64_t p = t.h + 2 * t.ph - t.r + 1, q = t.w + 2 * t.pw - t.s + 1;
      const cpu::ConvShape g{t.n, t.c, t.h, t.w, t.k, t.r, t.s, p, q, 1, 1, t.ph, t.pw, 1, 1};
      CHECK(cpu::implicit::applies(g) == (cpu::implicit::mode() != cpu::implicit::Mode::Off));
      auto x = randn32({t.n, t.c, t.h, t.w}, 171 + ci).to_vector<float>();
      auto w = randn32({t.k, t.c, t.r, t.s}, 181 + ci).to_vector<float>();
      auto b = randn32({t.k}, 191 + ci).to_vector<float>();
      std::vector<double> y64, bound;
      reference(g, x, w, b, y64, bound);
      std::vector<float> y(y64.size(), 7.f);
      cpu::conv2d_forward<float>(g, x.data(), w.data(), b.data(), y.data());
      CHECK(count_bad(y, y64, bound) == 0);
    }
  cpu::set_active_isa(saved);
}

TEST_CASE("padded implicit kernels (AVX2): forward and weight gradient match float64 within their rounding bound") {
  // The padded variant (ops/cpu/conv_implicit.h, supports_padded(): K % 4 == 0, any padding and stride),
  // called directly: padding 0, 1, 2 and asymmetric, outputs narrower than the input, 1x3, 3x1 and 5x5
  // kernels, planes whose computed span ends inside a panel or a vector, C * R * S in several row
  // blocks (300 channels) and C * R * S not a multiple of 3 (the weight tiles' 1- and 2-column tails),
  // batches split into chunks at an odd image, and the weight gradient accumulated onto a previous value.
  // Bounds as above: 2 (L + 1) eps32 sum |a| |b| for a sum of L products (L = C R S forward, N P Q for
  // the weight gradient), against a float64 reference; a wrong offset or a dropped position is off by O(1).
  struct Case {
    int64_t n, c, h, w, k, r, s, ph, pw, sh = 1, sw = 1;
  };
  const std::vector<Case> cases = {
      {3, 16, 28, 28, 32, 3, 3, 1, 1},
      {2, 8, 14, 14, 8, 3, 3, 1, 1},
      {3, 300, 5, 6, 12, 3, 3, 1, 1},
      {3, 5, 9, 11, 4, 5, 5, 2, 2},
      {3, 2, 6, 8, 8, 1, 3, 0, 1},
      {2, 7, 9, 6, 4, 3, 1, 2, 0},
      {3, 4, 7, 9, 4, 3, 3, 0, 0},
      {1, 1, 9, 9, 4, 3, 3, 1, 1},
      {5, 3, 4, 4, 16, 3, 3, 2, 1},
      {2, 2, 3, 17, 4, 2, 2, 0, 1},
      // Strides: each image split into stride_h x stride_w phases (even and odd sizes, 1x1 and 3x3, a
      // stride larger than the kernel, unequal strides).
      {3, 6, 28, 28, 8, 3, 3, 1, 1, 2, 2},
      {2, 5, 9, 11, 4, 3, 3, 1, 1, 2, 2},
      {3, 4, 10, 7, 8, 1, 1, 0, 0, 2, 2},
      {2, 3, 11, 13, 4, 2, 2, 1, 0, 3, 3},
      {2, 3, 8, 9, 4, 3, 3, 1, 1, 2, 1},
  };
  if (!cpu::isa_runs(cpu::Isa::Avx2)) {
    MESSAGE("no AVX2 + FMA on this CPU: the padded implicit kernels cannot run here, skipped");
    return;
  }
  auto abs_copy = [](const std::vector<double>& v) {
    std::vector<double> a(v.size());
    for (size_t i = 0; i < v.size(); ++i) a[i] = std::fabs(v[i]);
    return a;
  };
  auto count_bad = [](const std::vector<float>& y, const std::vector<double>& y64, const std::vector<double>& bound) {
    int64_t bad = 0;
    for (size_t i = 0; i < y.size(); ++i)
      if (!(std::fabs(y[i] - y64[i]) <= bound[i])) ++bad;
    return bad;
  };
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& t = cases[ci];
    CAPTURE(ci);
    const int64_t p = (t.h + 2 * t.ph - t.r) / t.sh + 1, q = (t.w + 2 * t.pw - t.s) / t.sw + 1;
    const cpu::ConvShape g{t.n, t.c, t.h, t.w, t.k, t.r, t.s, p, q, t.sh, t.sw, t.ph, t.pw, 1, 1};
    REQUIRE(cpu::implicit::supports_padded(g));
    auto x = randn32({t.n, t.c, t.h, t.w}, 271 + ci).to_vector<float>();
    auto w = randn32({t.k, t.c, t.r, t.s}, 281 + ci).to_vector<float>();
    auto b = randn32({t.k}, 291 + ci).to_vector<float>();
    auto dy = randn32({t.n, t.k, p, q}, 301 + ci).to_vector<float>();
    auto dw0 = randn32({t.k, t.c, t.r, t.s}, 311 + ci).to_vector<float>();
    std::vector<double> xd(x.begin(), x.end()), wd(w.begin(), w.end()), bd(b.begin(), b.end()),
        dyd(dy.begin(), dy.end());
    // Forward: y64 and its bound.
    std::vector<double> y64(dy.size()), ybound(dy.size());
    cpu::conv2d_forward_reference<double>(g, xd.data(), wd.data(), bd.data(), y64.data());
    cpu::conv2d_forward_reference<double>(g, abs_copy(xd).data(), abs_copy(wd).data(), abs_copy(bd).data(),
                                          ybound.data());
    for (auto& v : ybound) v *= 2.0 * static_cast<double>(g.c * g.r * g.s + 1) * 0x1p-24;
    // Weight gradient: dw64 = dw0 + the gradient, and its bound.
    std::vector<double> dw64(w.size()), dwbound(w.size());
    cpu::conv2d_backward_weight_reference<double>(g, xd.data(), dyd.data(), dw64.data(), nullptr);
    cpu::conv2d_backward_weight_reference<double>(g, abs_copy(xd).data(), abs_copy(dyd).data(), dwbound.data(),
                                                  nullptr);
    for (size_t i = 0; i < dw64.size(); ++i) {
      dw64[i] += dw0[i];
      dwbound[i] = (dwbound[i] + std::fabs(dw0[i])) * 2.0 * static_cast<double>(g.n * p * q + 1) * 0x1p-24;
    }
    std::vector<float> packed(cpu::implicit::packed_weight_size(g));
    cpu::implicit::pack_weights(g, w.data(), packed.data());
    for (int64_t split : {int64_t{0}, t.n / 2}) {
      CAPTURE(split);
      std::vector<float> y(y64.size(), 7.f), dw = dw0;
      if (split > 0) cpu::implicit::forward_padded_images(g, x.data(), packed.data(), b.data(), y.data(), 0, split);
      cpu::implicit::forward_padded_images(g, x.data(), packed.data(), b.data(), y.data(), split, t.n);
      CHECK(count_bad(y, y64, ybound) == 0);
      if (split > 0) cpu::implicit::backward_weight_padded_images(g, x.data(), dy.data(), dw.data(), 0, split, true);
      cpu::implicit::backward_weight_padded_images(g, x.data(), dy.data(), dw.data(), split, t.n, true);
      CHECK(count_bad(dw, dw64, dwbound) == 0);
    }
    // Through the engine's entry points (the padded paths forced), on 1 to 3 threads: the per-thread
    // partial weight gradients, the bias added in the copy out, and db alongside.
    ThreadsGuard tg;
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      CAPTURE(threads);
      std::vector<float> y(y64.size(), 7.f), dw(w.size(), 7.f), db(b.size(), 7.f), db_ref(b.size());
      cpu::conv2d_forward_padded(g, x.data(), w.data(), b.data(), y.data());
      CHECK(count_bad(y, y64, ybound) == 0);
      cpu::conv2d_backward_weight_padded(g, x.data(), dy.data(), dw.data(), db.data());
      for (size_t i = 0; i < dw64.size(); ++i) dw64[i] -= dw0[i];
      CHECK(count_bad(dw, dw64, dwbound) == 0);
      for (size_t i = 0; i < dw64.size(); ++i) dw64[i] += dw0[i];
      cpu::conv2d_backward_weight_reference<float>(g, x.data(), dy.data(), nullptr, db_ref.data());
      CHECK(vec_rel_error(db, db_ref) < 1e-6);
    }
  }
}

TEST_CASE(
    "Winograd F(4x4, 3x3), forward and weight gradient, match float64 within the bound of the same computation on "
    "absolute values") {
  // Forced on every kind of shape (conv2d_forward_winograd4): planes that are and are not multiples of
  // 4 (partial tiles), planes smaller than one tile, padding 0, 1, 2 and asymmetric, one tile per image
  // with many images per group, channels enough for several groups per thread; float32 against
  // winograd4_bound, float64 against the direct float64 result; 1 to 3 threads.
  struct Case {
    int64_t n, c, h, w, k, ph, pw;
  };
  const std::vector<Case> cases = {
      {2, 8, 9, 7, 5, 1, 1},   {3, 6, 8, 8, 7, 0, 0},   {2, 5, 5, 6, 4, 2, 2},     {2, 5, 7, 4, 6, 2, 0},
      {3, 4, 1, 1, 4, 1, 1},   {41, 6, 4, 4, 9, 1, 1},  {2, 4, 28, 28, 4, 1, 1},   {5, 128, 4, 6, 128, 1, 1},
      {9, 64, 7, 7, 64, 1, 1}, {4, 3, 14, 14, 8, 1, 1}, {300, 256, 4, 4, 8, 1, 1},
  };
  ThreadsGuard tg;
  for (int threads : {1, 2, 3})
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      const Case& t = cases[ci];
      set_num_threads(threads);
      CAPTURE(threads);
      CAPTURE(ci);
      const int64_t p = t.h + 2 * t.ph - 2, q = t.w + 2 * t.pw - 2;
      const cpu::ConvShape g{t.n, t.c, t.h, t.w, t.k, 3, 3, p, q, 1, 1, t.ph, t.pw, 1, 1};
      auto x = randn32({t.n, t.c, t.h, t.w}, 401 + ci).to_vector<float>();
      auto w = randn32({t.k, t.c, 3, 3}, 411 + ci).to_vector<float>();
      auto b = randn32({t.k}, 421 + ci).to_vector<float>();
      std::vector<double> xd(x.begin(), x.end()), wd(w.begin(), w.end()), bd(b.begin(), b.end());
      std::vector<double> y64(static_cast<size_t>(t.n * t.k * p * q)), y64w(y64.size(), 7.0);
      cpu::conv2d_forward_reference<double>(g, xd.data(), wd.data(), bd.data(), y64.data());
      std::vector<float> y(y64.size(), 7.f);
      cpu::conv2d_forward_winograd4<float>(g, x.data(), w.data(), b.data(), y.data());
      CHECK(count_outside(y, y64, winograd4_bound(g, x, w, &b)) == 0);
      // The weight gradient (and db alongside), float32 against its bound, float64 to 1e-12.
      auto dy = randn32({t.n, t.k, p, q}, 431 + ci).to_vector<float>();
      std::vector<double> dyd(dy.begin(), dy.end()), dw64(w.size()), dw64w(w.size(), 7.0);
      cpu::conv2d_backward_weight_reference<double>(g, xd.data(), dyd.data(), dw64.data(), nullptr);
      std::vector<float> dw(w.size(), 7.f), db(b.size(), 7.f), db_ref(b.size());
      cpu::conv2d_backward_weight_winograd4<float>(g, x.data(), dy.data(), dw.data(), db.data());
      CHECK(count_outside(dw, dw64, winograd4_weight_bound(g, x, dy)) == 0);
      cpu::conv2d_backward_weight_reference<float>(g, x.data(), dy.data(), nullptr, db_ref.data());
      CHECK(vec_rel_error(db, db_ref) < 1e-6);
      cpu::conv2d_backward_weight_winograd4<double>(g, xd.data(), dyd.data(), dw64w.data(), nullptr);
      double worst_dw = 0, scale_dw = 1e-300;
      for (size_t i = 0; i < dw64.size(); ++i) {
        worst_dw = std::max(worst_dw, std::fabs(dw64w[i] - dw64[i]));
        scale_dw = std::max(scale_dw, std::fabs(dw64[i]));
      }
      CHECK(worst_dw <= 1e-12 * scale_dw);
      cpu::conv2d_forward_winograd4<double>(g, xd.data(), wd.data(), bd.data(), y64w.data());
      double worst = 0, scale = 1e-300;
      for (size_t i = 0; i < y64.size(); ++i) {
        worst = std::max(worst, std::fabs(y64w[i] - y64[i]));
        scale = std::max(scale, std::fabs(y64[i]));
      }
      CHECK(worst <= 1e-12 * scale);
    }
}
