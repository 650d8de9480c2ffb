#include "resa/ops/cpu/conv.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "resa/core/error.h"
#include "resa/core/parallel.h"
#include "resa/ops/cpu/conv_implicit.h"
#include "resa/ops/cpu/conv_winograd.h"
#include "resa/ops/cpu/gemm.h"
#include "resa/ops/cpu/isa.h"
#include "resa/ops/cpu/scratch.h"

namespace resa::cpu {
namespace {

// Splits the batch into min(N, threads) contiguous chunks, one per thread, and calls
// f(first_image, end_image, chunk). One chunk (one image or one thread) runs on the caller's thread,
// where the GEMM may thread itself; inside the parallel region OpenBLAS runs single-threaded.
template <typename F>
void for_image_chunks(int64_t n, F&& f) {
  const int64_t chunks = std::min<int64_t>(n, get_num_threads());
  if (chunks <= 1) {
    f(int64_t{0}, n, int64_t{0});
    return;
  }
  parallel_for(chunks, 0, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) f(ch * n / chunks, (ch + 1) * n / chunks, ch);
  });
}

// Images per GEMM: small output planes (P * Q of 16 or 64 at the end of a ResNet) make thin GEMMs, so
// several images' columns are laid side by side into one (C * R * S, G * P * Q) matrix, up to about
// 512 columns and a 4M-element buffer.
int64_t group_size(const ConvShape& g, int64_t images) {
  const int64_t pq = std::max<int64_t>(1, g.p * g.q), crs = std::max<int64_t>(1, g.c * g.r * g.s);
  int64_t gs = std::max<int64_t>(1, 512 / pq);
  gs = std::min(gs, std::max<int64_t>(1, (int64_t{1} << 22) / (crs * pq)));
  return std::max<int64_t>(1, std::min(gs, images));
}

// Copies between (G, K, PQ) (the tensor layout of G images) and (K, G * PQ) (one GEMM's operand).
template <typename T>
void gather_images(const T* src, int64_t gs, int64_t k, int64_t pq, T* dst) {
  for (int64_t i = 0; i < gs; ++i)
    for (int64_t kk = 0; kk < k; ++kk)
      std::copy(src + (i * k + kk) * pq, src + (i * k + kk + 1) * pq, dst + kk * gs * pq + i * pq);
}
template <typename T>
void scatter_images(const T* src, int64_t gs, int64_t k, int64_t pq, T* dst) {
  for (int64_t i = 0; i < gs; ++i)
    for (int64_t kk = 0; kk < k; ++kk)
      std::copy(src + kk * gs * pq + i * pq, src + kk * gs * pq + (i + 1) * pq, dst + (i * k + kk) * pq);
}

// Column matrix of one image: the whole-plane copy where it applies (fast), else the row-by-row one.
template <typename T>
void im2col_image(const ConvShape& g, const T* x, T* col, int64_t ld, bool fast) {
  if (fast && g.stride_h == 1 && g.stride_w == 1 && g.q == g.w)
    isa_kernels<T>().im2col_same_width(g, x, col, ld);
  else if (fast && (g.stride_h > 1 || g.stride_w > 1))
    isa_kernels<T>().im2col_gather(g, x, col, ld);
  else
    isa_kernels<T>().im2col(g, x, col, ld);
}

// 3x3, stride 1: 16 instead of 36 multiplications per 2x2 outputs (ops/cpu/conv_winograd.h).
template <typename T>
void forward_winograd(const ConvShape& g, const T* x, const T* w, const T* b, T* y) {
  Scratch<T> u(static_cast<size_t>(16 * g.k * g.c));
  winograd::transform_weight(g, w, u.data());
  for_image_chunks(g.n,
                   [&](int64_t n0, int64_t n1, int64_t) { winograd::forward_images(g, x, u.data(), b, y, n0, n1); });
}

// 3x3, stride 1: 36 instead of 144 multiplications per 4x4 outputs (ops/cpu/conv_winograd.h).
template <typename T>
void forward_winograd4(const ConvShape& g, const T* x, const T* w, const T* b, T* y) {
  MappedScratch<T> u(static_cast<size_t>(36 * g.k * g.c));
  winograd::transform_weight4(g, w, u.data());
  for_image_chunks(g.n,
                   [&](int64_t n0, int64_t n1, int64_t) { winograd::forward_images4(g, x, u.data(), b, y, n0, n1); });
}

// y (G, K, PQ) += b per output channel, for the G images of y.
template <typename T>
void add_bias(const ConvShape& g, const T* b, int64_t images, T* y) {
  const int64_t pq = g.p * g.q;
  for (int64_t i = 0; i < images * g.k; ++i) {
    T* row = y + i * pq;
    const T bk = b[i % g.k];
    for (int64_t j = 0; j < pq; ++j) row[j] += bk;
  }
}

// Stride 1 with an output as wide as the input, on AVX2: one GEMM whose columns are read straight from
// the input planes (ops/cpu/conv_implicit.h) instead of im2col + sgemm. Only where implicit::supports(g).
void forward_implicit(const ConvShape& g, const float* x, const float* w, const float* b, float* y) {
  Scratch<float> packed(implicit::packed_weight_size(g));
  implicit::pack_weights(g, w, packed.data());
  for_image_chunks(g.n, [&](int64_t n0, int64_t n1, int64_t) {
    implicit::forward_images(g, x, packed.data(), y, n0, n1);
    if (b) add_bias(g, b, n1 - n0, y + n0 * g.k * g.p * g.q);
  });
}

// Stride 1 on wider planes, on AVX2: the same micro-kernel over a zero-padded copy of each image
// (ops/cpu/conv_implicit.h, the padded variant). Only where implicit::supports_padded(g).
void forward_padded(const ConvShape& g, const float* x, const float* w, const float* b, float* y) {
  Scratch<float> packed(implicit::packed_weight_size(g));
  implicit::pack_weights(g, w, packed.data());
  for_image_chunks(g.n, [&](int64_t n0, int64_t n1, int64_t) {
    implicit::forward_padded_images(g, x, packed.data(), b, y, n0, n1);
  });
}

// fast: the whole-plane and gathered im2col (else the row-by-row one); choose: Winograd or the implicit
// GEMM where they pay (else always im2col + GEMM).
template <typename T>
void forward_impl(const ConvShape& g, const T* x, const T* w, const T* b, T* y, bool fast, bool choose = true) {
  if (fast && choose && winograd::profitable4(g)) return forward_winograd4(g, x, w, b, y);
  if (fast && choose && winograd::profitable(g)) return forward_winograd(g, x, w, b, y);
  if constexpr (std::is_same_v<T, float>)
    if (fast && choose) {
      if (implicit::applies(g)) return forward_implicit(g, x, w, b, y);
      if (implicit::applies_padded(g)) return forward_padded(g, x, w, b, y);
    }
  const int64_t crs = g.c * g.r * g.s, pq = g.p * g.q, hw = g.h * g.w;
  for_image_chunks(g.n, [&](int64_t n0, int64_t n1, int64_t) {
    const int64_t gmax = group_size(g, n1 - n0);
    const bool direct = g.pointwise() && gmax == 1;
    Scratch<T> col(direct ? 0 : static_cast<size_t>(crs * gmax * pq));
    Scratch<T> out(gmax > 1 ? static_cast<size_t>(g.k * gmax * pq) : 0);
    for (int64_t n = n0; n < n1; n += gmax) {
      const int64_t gs = std::min(gmax, n1 - n), ld = gs * pq;
      const T* cols = x + n * g.c * hw;
      if (!direct) {
        for (int64_t i = 0; i < gs; ++i) im2col_image(g, x + (n + i) * g.c * hw, col.data() + i * pq, ld, fast);
        cols = col.data();
      }
      T* yn = y + n * g.k * pq;
      // y (K, G * PQ) = w (K, CRS) . col (CRS, G * PQ)
      gemm(false, false, g.k, ld, crs, T(1), w, crs, cols, ld, T(0), gs > 1 ? out.data() : yn, ld);
      if (gs > 1) scatter_images(out.data(), gs, g.k, pq, yn);
      if (b) add_bias(g, b, gs, yn);
    }
  });
}

// With stride 1 the input gradient is itself a convolution: dx = conv(dy, w'), where w'[c, k, r, s] =
// w[k, c, R-1-r, S-1-s] (channels swapped, kernel turned by 180 degrees) and padding
// dil * (R - 1) - pad. One small weight copy turns "GEMM into a 9x larger column matrix, zero dx, add
// the columns back (col2im)" into the forward path: im2col of dy and a GEMM straight into dx.
template <typename T>
bool backward_input_as_forward(const ConvShape& g, const T* dy, const T* w, T* dx) {
  const int64_t pad_h = g.dil_h * (g.r - 1) - g.pad_h, pad_w = g.dil_w * (g.s - 1) - g.pad_w;
  if (g.stride_h != 1 || g.stride_w != 1 || pad_h < 0 || pad_w < 0) return false;
  const ConvShape t{g.n, g.k, g.p, g.q, g.c, g.r, g.s, g.h, g.w, 1, 1, pad_h, pad_w, g.dil_h, g.dil_w};
  const int64_t rs = g.r * g.s;
  Scratch<T> wt(static_cast<size_t>(g.k * g.c * rs));
  for (int64_t k = 0; k < g.k; ++k)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t i = 0; i < rs; ++i) wt[(c * g.k + k) * rs + (rs - 1 - i)] = w[(k * g.c + c) * rs + i];
  forward_impl(t, dy, wt.data(), static_cast<const T*>(nullptr), dx, true);
  return true;
}

template <typename T>
void backward_input_impl(const ConvShape& g, const T* dy, const T* w, T* dx, bool fast) {
  // The turned-kernel form builds columns of dy (9K rows) where col2im works on 9C rows: it pays when
  // K is not much larger than C (not for a stem with 3 input channels and 64 outputs).
  if (fast && !g.pointwise() && g.k <= 2 * g.c && backward_input_as_forward(g, dy, w, dx)) return;
  const int64_t crs = g.c * g.r * g.s, pq = g.p * g.q, hw = g.h * g.w;
  for_image_chunks(g.n, [&](int64_t n0, int64_t n1, int64_t) {
    const int64_t gmax = group_size(g, n1 - n0);
    const bool direct = g.pointwise() && gmax == 1;
    Scratch<T> col(direct ? 0 : static_cast<size_t>(crs * gmax * pq));
    Scratch<T> dyg(gmax > 1 ? static_cast<size_t>(g.k * gmax * pq) : 0);
    for (int64_t n = n0; n < n1; n += gmax) {
      const int64_t gs = std::min(gmax, n1 - n), ld = gs * pq;
      T* dxn = dx + n * g.c * hw;
      const T* dyn = dy + n * g.k * pq;
      if (gs > 1) {
        gather_images(dyn, gs, g.k, pq, dyg.data());
        dyn = dyg.data();
      }
      // col (CRS, G * PQ) = w^T (CRS, K) . dy (K, G * PQ)
      if (direct) {
        gemm(true, false, crs, pq, g.k, T(1), w, crs, dyn, pq, T(0), dxn, pq);
        continue;
      }
      gemm(true, false, crs, ld, g.k, T(1), w, crs, dyn, ld, T(0), col.data(), ld);
      std::fill(dxn, dxn + gs * g.c * hw, T(0));
      const auto& isa = isa_kernels<T>();
      const auto adjoint = fast && (g.stride_h > 1 || g.stride_w > 1) ? isa.col2im_scatter : isa.col2im;
      for (int64_t i = 0; i < gs; ++i) adjoint(g, col.data() + i * pq, dxn + i * g.c * hw, ld);
    }
  });
}

// Choose: Winograd F(4x4, 3x3) or the padded implicit kernel where they pay
// (winograd::profitable4_weight, implicit::applies_padded), else im2col + GEMM.
enum class WeightPath { Choose, Im2col, Padded, Winograd4 };

// fast: the whole-plane and gathered im2col (else the row-by-row one).
template <typename T>
void backward_weight_impl(const ConvShape& g, const T* x, const T* dy, T* dw, T* db, bool fast,
                          WeightPath path = WeightPath::Choose) {
  const int64_t crs = g.c * g.r * g.s, pq = g.p * g.q, hw = g.h * g.w, kcrs = g.k * crs;
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(g.n, get_num_threads()));
  // Each chunk of images sums into its own partial dW / db; the partials are added in a fixed order
  // afterwards, so the result does not depend on thread timing. Chunk 0 writes dw directly.
  Scratch<T> dw_part(dw ? static_cast<size_t>((chunks - 1) * kcrs) : 0);
  std::vector<double> db_part(db ? static_cast<size_t>(chunks * g.k) : 0, 0.0);
  if (dw &&
      (path == WeightPath::Winograd4 || (path == WeightPath::Choose && fast && winograd::profitable4_weight(g)))) {
    winograd::backward_weight4(g, x, dy, dw);
    if (db) backward_weight_impl(g, x, dy, static_cast<T*>(nullptr), db, fast, WeightPath::Im2col);
    return;
  }
  bool padded = false;
  if constexpr (std::is_same_v<T, float>)
    padded = dw && (path == WeightPath::Padded || (path == WeightPath::Choose && fast && implicit::applies_padded(g)));
  for_image_chunks(g.n, [&](int64_t n0, int64_t n1, int64_t ch) {
    const int64_t gmax = group_size(g, n1 - n0);
    const bool direct = g.pointwise() && gmax == 1;
    Scratch<T> col(direct || !dw || padded ? 0 : static_cast<size_t>(crs * gmax * pq));
    Scratch<T> dyg(gmax > 1 && dw && !padded ? static_cast<size_t>(g.k * gmax * pq) : 0);
    T* dwc = ch == 0 ? dw : dw_part.data() + (ch - 1) * kcrs;
    if constexpr (std::is_same_v<T, float>)
      if (padded) implicit::backward_weight_padded_images(g, x, dy, dwc, n0, n1, false);
    for (int64_t n = n0; n < n1; n += gmax) {
      const int64_t gs = std::min(gmax, n1 - n), ld = gs * pq;
      if (dw && !padded) {
        const T* cols = x + n * g.c * hw;
        if (!direct) {
          for (int64_t i = 0; i < gs; ++i) im2col_image(g, x + (n + i) * g.c * hw, col.data() + i * pq, ld, fast);
          cols = col.data();
        }
        const T* dyn = dy + n * g.k * pq;
        if (gs > 1) {
          gather_images(dyn, gs, g.k, pq, dyg.data());
          dyn = dyg.data();
        }
        // dW (K, CRS) += dy (K, G * PQ) . col^T (G * PQ, CRS)
        gemm(false, true, g.k, crs, ld, T(1), dyn, ld, cols, ld, n == n0 ? T(0) : T(1), dwc, crs);
      }
      if (db) {
        double* dbc = db_part.data() + ch * g.k;
        for (int64_t i = 0; i < gs * g.k; ++i) {
          const T* row = dy + n * g.k * pq + i * pq;
          double acc = 0;
          for (int64_t j = 0; j < pq; ++j) acc += row[j];
          dbc[i % g.k] += acc;
        }
      }
    }
  });
  if (dw) {
    if (g.n == 0) std::fill(dw, dw + kcrs, T(0));
    for (int64_t ch = 1; ch < chunks; ++ch) {
      const T* part = dw_part.data() + (ch - 1) * kcrs;
      for (int64_t i = 0; i < kcrs; ++i) dw[i] += part[i];
    }
  }
  if (db)
    for (int64_t k = 0; k < g.k; ++k) {
      double acc = 0;
      for (int64_t ch = 0; ch < chunks; ++ch) acc += db_part[ch * g.k + k];
      db[k] = static_cast<T>(acc);
    }
}

}  // namespace

template <typename T>
void conv2d_forward(const ConvShape& g, const T* x, const T* w, const T* b, T* y) {
  forward_impl(g, x, w, b, y, true);
}
template <typename T>
void conv2d_backward_input(const ConvShape& g, const T* dy, const T* w, T* dx) {
  backward_input_impl(g, dy, w, dx, true);
}
template <typename T>
void conv2d_backward_weight(const ConvShape& g, const T* x, const T* dy, T* dw, T* db) {
  backward_weight_impl(g, x, dy, dw, db, true);
}
// The shapes the Winograd entry points compute; `name` for the message.
void check_winograd(const ConvShape& g, const char* name) {
  RESA_CHECK(winograd::applies(g),
             "[{}] needs a 3x3 kernel, stride 1, dilation 1; got {}x{}, stride ({}, {}), "
             "dilation ({}, {})",
             name, g.r, g.s, g.stride_h, g.stride_w, g.dil_h, g.dil_w);
}
template <typename T>
void conv2d_forward_winograd(const ConvShape& g, const T* x, const T* w, const T* b, T* y) {
  check_winograd(g, "conv2d_forward_winograd");
  forward_winograd(g, x, w, b, y);
}
template <typename T>
void conv2d_forward_winograd4(const ConvShape& g, const T* x, const T* w, const T* b, T* y) {
  check_winograd(g, "conv2d_forward_winograd4");
  forward_winograd4(g, x, w, b, y);
}
template <typename T>
void conv2d_forward_im2col(const ConvShape& g, const T* x, const T* w, const T* b, T* y) {
  forward_impl(g, x, w, b, y, true, false);
}
void conv2d_forward_padded(const ConvShape& g, const float* x, const float* w, const float* b, float* y) {
  RESA_CHECK(implicit::supports_padded(g) && isa_runs(Isa::Avx2),
             "[conv2d_forward_padded] needs stride 1, dilation 1, K % 4 == 0 and a CPU with AVX2 + FMA; got "
             "stride ({}, {}), dilation ({}, {}), K {}",
             g.stride_h, g.stride_w, g.dil_h, g.dil_w, g.k);
  forward_padded(g, x, w, b, y);
}
void conv2d_backward_weight_im2col(const ConvShape& g, const float* x, const float* dy, float* dw, float* db) {
  backward_weight_impl(g, x, dy, dw, db, true, WeightPath::Im2col);
}
void conv2d_backward_weight_padded(const ConvShape& g, const float* x, const float* dy, float* dw, float* db) {
  RESA_CHECK(implicit::supports_padded(g) && isa_runs(Isa::Avx2),
             "[conv2d_backward_weight_padded] needs stride 1, dilation 1, K % 4 == 0 and a CPU with AVX2 + FMA; "
             "got stride ({}, {}), dilation ({}, {}), K {}",
             g.stride_h, g.stride_w, g.dil_h, g.dil_w, g.k);
  backward_weight_impl(g, x, dy, dw, db, true, WeightPath::Padded);
}
template <typename T>
void conv2d_backward_weight_winograd4(const ConvShape& g, const T* x, const T* dy, T* dw, T* db) {
  check_winograd(g, "conv2d_backward_weight_winograd4");
  RESA_CHECK(dw != nullptr, "[conv2d_backward_weight_winograd4] dw is null: nothing to compute");
  backward_weight_impl(g, x, dy, dw, db, true, WeightPath::Winograd4);
}
template void conv2d_backward_weight_winograd4<float>(const ConvShape&, const float*, const float*, float*, float*);
template void conv2d_backward_weight_winograd4<double>(const ConvShape&, const double*, const double*, double*,
                                                       double*);
void conv2d_forward_implicit(const ConvShape& g, const float* x, const float* w, const float* b, float* y) {
  RESA_CHECK(implicit::supports(g) && isa_runs(Isa::Avx2),
             "[conv2d_forward_implicit] needs stride 1, dilation 1, Q == W, K % 4 == 0, >= 8 positions per plane "
             "and a CPU with AVX2 + FMA; got stride ({}, {}), dilation ({}, {}), Q {} W {}, K {}, P * Q {}",
             g.stride_h, g.stride_w, g.dil_h, g.dil_w, g.q, g.w, g.k, g.p * g.q);
  forward_implicit(g, x, w, b, y);
}
template <typename T>
void conv2d_forward_reference(const ConvShape& g, const T* x, const T* w, const T* b, T* y) {
  forward_impl(g, x, w, b, y, false);
}
template <typename T>
void conv2d_backward_input_reference(const ConvShape& g, const T* dy, const T* w, T* dx) {
  backward_input_impl(g, dy, w, dx, false);
}
template <typename T>
void conv2d_backward_weight_reference(const ConvShape& g, const T* x, const T* dy, T* dw, T* db) {
  backward_weight_impl(g, x, dy, dw, db, false);
}

#define RESA_CONV_INSTANTIATE(T, SUFFIX)                                                       \
  template void conv2d_forward##SUFFIX<T>(const ConvShape&, const T*, const T*, const T*, T*); \
  template void conv2d_backward_input##SUFFIX<T>(const ConvShape&, const T*, const T*, T*);    \
  template void conv2d_backward_weight##SUFFIX<T>(const ConvShape&, const T*, const T*, T*, T*);
RESA_CONV_INSTANTIATE(float, )
RESA_CONV_INSTANTIATE(double, )
RESA_CONV_INSTANTIATE(float, _reference)
template void conv2d_forward_im2col<float>(const ConvShape&, const float*, const float*, const float*, float*);
template void conv2d_forward_im2col<double>(const ConvShape&, const double*, const double*, const double*, double*);
template void conv2d_forward_winograd<float>(const ConvShape&, const float*, const float*, const float*, float*);
template void conv2d_forward_winograd<double>(const ConvShape&, const double*, const double*, const double*, double*);
template void conv2d_forward_winograd4<float>(const ConvShape&, const float*, const float*, const float*, float*);
template void conv2d_forward_winograd4<double>(const ConvShape&, const double*, const double*, const double*, double*);
RESA_CONV_INSTANTIATE(double, _reference)
#undef RESA_CONV_INSTANTIATE

void conv2d_forward(DType dtype, const ConvShape& g, const void* x, const void* w, const void* b, void* y) {
  RESA_DISPATCH_FLOAT(dtype, "conv2d", [&] {
    conv2d_forward<scalar_t>(g, static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(w),
                             static_cast<const scalar_t*>(b), static_cast<scalar_t*>(y));
  });
}

void conv2d_backward_input(DType dtype, const ConvShape& g, const void* dy, const void* w, void* dx) {
  RESA_DISPATCH_FLOAT(dtype, "conv2d_backward_input", [&] {
    conv2d_backward_input<scalar_t>(g, static_cast<const scalar_t*>(dy), static_cast<const scalar_t*>(w),
                                    static_cast<scalar_t*>(dx));
  });
}

void conv2d_backward_weight(DType dtype, const ConvShape& g, const void* x, const void* dy, void* dw, void* db) {
  RESA_DISPATCH_FLOAT(dtype, "conv2d_backward_weight", [&] {
    conv2d_backward_weight<scalar_t>(g, static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(dy),
                                     static_cast<scalar_t*>(dw), static_cast<scalar_t*>(db));
  });
}

}  // namespace resa::cpu
