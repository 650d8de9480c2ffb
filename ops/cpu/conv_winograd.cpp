#include "resa/ops/cpu/conv_winograd.h"

#include <algorithm>

#include "resa/core/parallel.h"
#include "resa/ops/cpu/gemm.h"
#include "resa/ops/cpu/isa.h"
#include "resa/ops/cpu/scratch.h"

namespace resa::cpu::winograd {

bool applies(const ConvShape& g) {
  return g.r == 3 && g.s == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dil_h == 1 && g.dil_w == 1 && g.p >= 1 &&
         g.q >= 1;
}

bool profitable(const ConvShape& g) {
  if (!applies(g) || g.p % 2 != 0 || g.q % 2 != 0) return false;
  // 64 channels on planes of 32x32 or more, with the AVX2 loops: 64x32x32 at batch 64, forward 0.86-0.90x
  // the time of im2col + GEMM on the Zen 3 (64x14x14: 0.94-1.11x, 32x28x28: 1.06-1.21x, so not those).
  // With AVX-512 (the Xeon, 2026-12-06) F(2x2, 3x3) measured 64x32x32 0.66, 128x16x16 0.70, 256x8x8 0.84
  // (F(4x4, 3x3) takes those: 0.32-0.66), 512x4x4 0.75, 32x28x28 1.07, 64x14x14 0.99, 128x7x7 1.23; it
  // keeps the 128-channel rule there.
  if (g.c >= 64 && g.k >= 64 && g.p * g.q >= 1024 && active_isa() == Isa::Avx2) return true;
  if (g.c < 128 || g.k < 128) return false;
  // A plane of 4x4 or less has 2x2 tiles at most, whose transforms cost per tile about what the GEMM saves
  // per tile with 256 channels (256x4x4 at batch 256: forward + backward 74 ms, im2col + GEMM 62 ms on the
  // Sapphire Rapids Xeon), but less than it saves with 512 (512x4x4 at batch 64: 61 vs 69 ms).
  return g.p * g.q > 16 || (g.c >= 512 && g.k >= 512);
}

template <typename T>
void transform_weight(const ConvShape& g, const T* w, T* u) {
  const auto& isa = isa_kernels<T>();
  parallel_for(g.k * g.c, 4096, [&](int64_t i0, int64_t i1) { isa.winograd_weight(g, w, u, i0, i1); });
}

namespace {

// Images per group: enough tiles for wide GEMMs (about 512 columns), with V and M under ~4M elements.
int64_t group_size(const ConvShape& g, int64_t tiles, int64_t images) {
  int64_t gs = std::max<int64_t>(1, 512 / tiles);
  gs = std::min(gs, std::max<int64_t>(1, (int64_t{1} << 22) / (16 * (g.c + g.k) * tiles)));
  return std::max<int64_t>(1, std::min(gs, images));
}

// Scratch elements the input and output transforms (winograd_input/winograd_output) need for one plane.
int64_t buffer_size(int64_t tp, int64_t tq) { return 2 * (tq + 1) + 4 * tq * (2 * tp + 2) + 16 * tq; }

}  // namespace

template <typename T>
void forward_images(const ConvShape& g, const T* x, const T* u, const T* b, T* y, int64_t n0, int64_t n1) {
  const int64_t tp = (g.p + 1) / 2, tq = (g.q + 1) / 2, tiles = tp * tq;
  const int64_t hw = g.h * g.w, pq = g.p * g.q;
  const auto& isa = isa_kernels<T>();
  const int64_t gmax = group_size(g, tiles, n1 - n0);
  Scratch<T> v(static_cast<size_t>(16 * g.c * gmax * tiles));
  Scratch<T> m(static_cast<size_t>(16 * g.k * gmax * tiles));
  Scratch<T> buf(static_cast<size_t>(buffer_size(tp, tq)));
  for (int64_t n = n0; n < n1; n += gmax) {
    const int64_t gs = std::min(gmax, n1 - n), nt = gs * tiles;  // GEMM columns: the group's tiles
    // V[e] (C, nt): column i * tiles + t is tile t of image n + i.
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t i = 0; i < gs; ++i)
        isa.winograd_input(g, x + ((n + i) * g.c + c) * hw, tp, tq, v.data() + c * nt + i * tiles, g.c * nt,
                           buf.data());
    // M[e] (K, nt) = U[e] (K, C) . V[e] (C, nt)
    for (int e = 0; e < 16; ++e)
      gemm(false, false, g.k, nt, g.c, T(1), u + e * g.k * g.c, g.c, v.data() + e * g.c * nt, nt, T(0),
           m.data() + e * g.k * nt, nt);
    for (int64_t k = 0; k < g.k; ++k)
      for (int64_t i = 0; i < gs; ++i)
        isa.winograd_output(g, m.data() + k * nt + i * tiles, g.k * nt, tp, tq, b ? b[k] : T(0),
                            y + ((n + i) * g.k + k) * pq, buf.data());
  }
}

bool profitable4(const ConvShape& g) {
  // Measured against im2col + GEMM on the Zen 3 (bench_conv --ab-winograd4, BENCHMARKS.md), forward /
  // weight gradient, with the transforms vectorised: 32x28x28 0.64 / 0.60 (the padded kernels, taken there
  // before, 0.79 / 0.73), 64x14x14 0.67 / 0.68, 128x7x7 0.68 / 0.71, 256x4x4 0.68 / 0.72 (batch 256);
  // 64x32x32 0.44 / 0.44, 128x16x16 0.42 / 0.45, 256x8x8 0.57 / 0.62 (batch 64). 512x4x4 at batch 64
  // (1.17: 36 transformed 512x512 filters, 38 MB, and GEMMs of 32 columns) stays on F(2x2, 3x3) (0.70);
  // the stems (1 or 3 channels, 2.8x) on the padded kernels or im2col. The same rule holds with the
  // AVX-512 loops on the Sapphire Rapids Xeon (2026-12-06): 32x28x28 0.61 / 0.49, 64x14x14 0.57 / 0.69,
  // 128x7x7 0.68 / 0.76, 256x4x4 0.79 / 0.87 (batch 256); 64x32x32 0.32 / 0.45, 128x16x16 0.42 / 0.47,
  // 256x8x8 0.66 / 0.70, 512x4x4 1.32 / 1.48 (batch 64). The baseline (SSE2) loops keep the F(2x2, 3x3)
  // rule: F(4x4, 3x3) was not measured with them.
  if (!applies(g) || g.c < 32 || g.k < 32 || g.c * g.k > 256 * 256) return false;
  return active_isa() != Isa::Baseline || (g.c >= 64 && g.k >= 64 && profitable(g));
}

template <typename T>
void transform_weight4(const ConvShape& g, const T* w, T* u) {
  const auto& isa = isa_kernels<T>();
  parallel_for(g.k * g.c, 4096, [&](int64_t i0, int64_t i1) { isa.winograd4_weight(g, w, u, i0, i1); });
}

namespace {

// Images per group of F(4x4, 3x3) over images [n0, n1): about 256 GEMM columns, with V and M (36 rows of
// C and K per column) under 1M elements.
int64_t group_size4(const ConvShape& g, int64_t tiles, int64_t images) {
  int64_t gmax = std::max<int64_t>(1, 256 / tiles);
  gmax = std::min(gmax, std::max<int64_t>(1, (int64_t{1} << 20) / (36 * (g.c + g.k) * tiles)));
  return std::max<int64_t>(1, std::min(gmax, images));
}

// Scratch of one group: V (36 x C), M or D (36 x K) and the transforms' buffer.
template <typename T>
struct Group4 {
  Scratch<T> v, m, buf;
  Group4(const ConvShape& g, int64_t columns, int64_t tq)
      : v(static_cast<size_t>(36 * g.c * columns)),
        m(static_cast<size_t>(36 * g.k * columns)),
        buf(static_cast<size_t>(40 * columns + 288 + 4 * tq + 2)) {}  // isa.h: the transforms' needs
};

}  // namespace

template <typename T>
void forward_images4(const ConvShape& g, const T* x, const T* u, const T* b, T* y, int64_t n0, int64_t n1) {
  const int64_t tp = (g.p + 3) / 4, tq = (g.q + 3) / 4, tiles = tp * tq;
  const auto& isa = isa_kernels<T>();
  const int64_t gmax = group_size4(g, tiles, n1 - n0);
  Group4<T> s(g, gmax * tiles, tq);
  Scratch<T>&v = s.v, &m = s.m, &buf = s.buf;
  for (int64_t n = n0; n < n1; n += gmax) {
    const int64_t gs = std::min(gmax, n1 - n), nt = gs * tiles;
    for (int64_t c = 0; c < g.c; ++c)
      isa.winograd4_input(g, x, n, gs, c, tp, tq, v.data() + c * nt, g.c * nt, buf.data());
    for (int e = 0; e < 36; ++e)
      gemm(false, false, g.k, nt, g.c, T(1), u + e * g.k * g.c, g.c, v.data() + e * g.c * nt, nt, T(0),
           m.data() + e * g.k * nt, nt);
    for (int64_t k = 0; k < g.k; ++k)
      isa.winograd4_output(g, m.data() + k * nt, g.k * nt, n, gs, k, tp, tq, b ? b[k] : T(0), y, buf.data());
  }
}

bool profitable4_weight(const ConvShape& g) { return profitable4(g); }

template <typename T>
void backward_weight4(const ConvShape& g, const T* x, const T* dy, T* dw) {
  const int64_t tp = (g.p + 3) / 4, tq = (g.q + 3) / 4, tiles = tp * tq, kc = g.k * g.c;
  const auto& isa = isa_kernels<T>();
  if (g.n == 0) {
    std::fill(dw, dw + kc * 9, T(0));
    return;
  }
  // The images are split across threads as in the forward; each chunk sums its own dU (36 K C), and the
  // partials are added in a fixed order.
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(g.n, get_num_threads()));
  MappedScratch<T> du(static_cast<size_t>(chunks * 36 * kc));
  parallel_for(chunks, 0, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      const int64_t n0 = ch * g.n / chunks, n1 = (ch + 1) * g.n / chunks;
      const int64_t gmax = group_size4(g, tiles, n1 - n0);
      Group4<T> s(g, gmax * tiles, tq);
      Scratch<T>&v = s.v, &d = s.m, &buf = s.buf;
      T* duc = du.data() + ch * 36 * kc;
      for (int64_t n = n0; n < n1; n += gmax) {
        const int64_t gs = std::min(gmax, n1 - n), nt = gs * tiles;
        for (int64_t c = 0; c < g.c; ++c)
          isa.winograd4_input(g, x, n, gs, c, tp, tq, v.data() + c * nt, g.c * nt, buf.data());
        for (int64_t k = 0; k < g.k; ++k)
          isa.winograd4_grad_output(g, dy, n, gs, k, tp, tq, d.data() + k * nt, g.k * nt, buf.data());
        // dU[e] (K, C) (+)= D[e] (K, nt) . V[e]^T (nt, C)
        for (int e = 0; e < 36; ++e)
          gemm(false, true, g.k, g.c, nt, T(1), d.data() + e * g.k * nt, nt, v.data() + e * g.c * nt, nt,
               n == n0 ? T(0) : T(1), duc + e * kc, g.c);
      }
    }
  });
  for (int64_t ch = 1; ch < chunks; ++ch) {
    const T* part = du.data() + ch * 36 * kc;
    parallel_for(36 * kc, 1 << 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) du.data()[i] += part[i];
    });
  }
  parallel_for(kc, 4096, [&](int64_t i0, int64_t i1) { isa.winograd4_grad_weight(g, du.data(), dw, i0, i1); });
}

template void transform_weight<float>(const ConvShape&, const float*, float*);
template void transform_weight<double>(const ConvShape&, const double*, double*);
template void forward_images<float>(const ConvShape&, const float*, const float*, const float*, float*, int64_t,
                                    int64_t);
template void forward_images<double>(const ConvShape&, const double*, const double*, const double*, double*, int64_t,
                                     int64_t);

template void transform_weight4<float>(const ConvShape&, const float*, float*);
template void transform_weight4<double>(const ConvShape&, const double*, double*);
template void forward_images4<float>(const ConvShape&, const float*, const float*, const float*, float*, int64_t,
                                     int64_t);
template void forward_images4<double>(const ConvShape&, const double*, const double*, const double*, double*, int64_t,
                                      int64_t);

template void backward_weight4<float>(const ConvShape&, const float*, const float*, float*);
template void backward_weight4<double>(const ConvShape&, const double*, const double*, double*);

}  // namespace resa::cpu::winograd
