#include "ops/cpu/conv.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "ops/cpu/gemm.h"

namespace resa::cpu {
namespace {

// Range [q0, q1) of output columns whose input column q * stride + off lies inside [0, w).
inline void valid_range(int64_t off, int64_t stride, int64_t w, int64_t q, int64_t& q0, int64_t& q1) {
  q0 = off >= 0 ? 0 : (-off + stride - 1) / stride;
  q1 = w - off <= 0 ? 0 : (w - off + stride - 1) / stride;
  q0 = std::min(q0, q);
  q1 = std::clamp(q1, q0, q);
}

// x: (C, H, W) -> col: (C * R * S, P * Q); padding reads as zero.
template <typename T>
void im2col(const ConvShape& g, const T* x, T* col) {
  const int64_t pq = g.p * g.q;
  for (int64_t c = 0; c < g.c; ++c) {
    const T* xc = x + c * g.h * g.w;
    for (int64_t r = 0; r < g.r; ++r) {
      for (int64_t s = 0; s < g.s; ++s) {
        T* row = col + ((c * g.r + r) * g.s + s) * pq;
        const int64_t woff = s * g.dil_w - g.pad_w;
        int64_t q0, q1;
        valid_range(woff, g.stride_w, g.w, g.q, q0, q1);
        for (int64_t p = 0; p < g.p; ++p) {
          T* out = row + p * g.q;
          const int64_t ih = p * g.stride_h - g.pad_h + r * g.dil_h;
          if (ih < 0 || ih >= g.h) {
            std::fill(out, out + g.q, T(0));
            continue;
          }
          const T* xr = xc + ih * g.w + woff;
          std::fill(out, out + q0, T(0));
          if (g.stride_w == 1) {
            std::copy(xr + q0, xr + q1, out + q0);
          } else {
            for (int64_t qq = q0; qq < q1; ++qq) out[qq] = xr[qq * g.stride_w];
          }
          std::fill(out + q1, out + g.q, T(0));
        }
      }
    }
  }
}

// col: (C * R * S, P * Q) -> dx: (C, H, W), accumulated (dx must start zeroed); the adjoint of im2col.
template <typename T>
void col2im(const ConvShape& g, const T* col, T* dx) {
  const int64_t pq = g.p * g.q;
  for (int64_t c = 0; c < g.c; ++c) {
    T* dxc = dx + c * g.h * g.w;
    for (int64_t r = 0; r < g.r; ++r) {
      for (int64_t s = 0; s < g.s; ++s) {
        const T* row = col + ((c * g.r + r) * g.s + s) * pq;
        const int64_t woff = s * g.dil_w - g.pad_w;
        int64_t q0, q1;
        valid_range(woff, g.stride_w, g.w, g.q, q0, q1);
        for (int64_t p = 0; p < g.p; ++p) {
          const int64_t ih = p * g.stride_h - g.pad_h + r * g.dil_h;
          if (ih < 0 || ih >= g.h) continue;
          const T* in = row + p * g.q;
          T* dr = dxc + ih * g.w + woff;
          if (g.stride_w == 1) {
            for (int64_t qq = q0; qq < q1; ++qq) dr[qq] += in[qq];
          } else {
            for (int64_t qq = q0; qq < q1; ++qq) dr[qq * g.stride_w] += in[qq];
          }
        }
      }
    }
  }
}

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

}  // namespace

template <typename T>
void conv2d_forward(const ConvShape& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t crs = g.c * g.r * g.s, pq = g.p * g.q, hw = g.h * g.w;
  const bool direct = g.pointwise();
  for_image_chunks(g.n, [&](int64_t n0, int64_t n1, int64_t) {
    std::vector<T> col(direct ? 0 : static_cast<size_t>(crs * pq));
    for (int64_t n = n0; n < n1; ++n) {
      const T* cols = x + n * g.c * hw;
      if (!direct) {
        im2col(g, cols, col.data());
        cols = col.data();
      }
      T* yn = y + n * g.k * pq;
      // y_n (K, PQ) = w (K, CRS) . col (CRS, PQ)
      gemm(false, false, g.k, pq, crs, T(1), w, crs, cols, pq, T(0), yn, pq);
      if (b)
        for (int64_t k = 0; k < g.k; ++k) {
          T* row = yn + k * pq;
          const T bk = b[k];
          for (int64_t i = 0; i < pq; ++i) row[i] += bk;
        }
    }
  });
}

template <typename T>
void conv2d_backward_input(const ConvShape& g, const T* dy, const T* w, T* dx) {
  const int64_t crs = g.c * g.r * g.s, pq = g.p * g.q, hw = g.h * g.w;
  const bool direct = g.pointwise();
  for_image_chunks(g.n, [&](int64_t n0, int64_t n1, int64_t) {
    std::vector<T> col(direct ? 0 : static_cast<size_t>(crs * pq));
    for (int64_t n = n0; n < n1; ++n) {
      T* dxn = dx + n * g.c * hw;
      const T* dyn = dy + n * g.k * pq;
      // col (CRS, PQ) = w^T (CRS, K) . dy_n (K, PQ)
      if (direct) {
        gemm(true, false, crs, pq, g.k, T(1), w, crs, dyn, pq, T(0), dxn, pq);
        continue;
      }
      gemm(true, false, crs, pq, g.k, T(1), w, crs, dyn, pq, T(0), col.data(), pq);
      std::fill(dxn, dxn + g.c * hw, T(0));
      col2im(g, col.data(), dxn);
    }
  });
}

template <typename T>
void conv2d_backward_weight(const ConvShape& g, const T* x, const T* dy, T* dw, T* db) {
  const int64_t crs = g.c * g.r * g.s, pq = g.p * g.q, hw = g.h * g.w, kcrs = g.k * crs;
  const bool direct = g.pointwise();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(g.n, get_num_threads()));
  // Each chunk of images sums into its own partial dW / db; the partials are added in a fixed order
  // afterwards, so the result does not depend on thread timing. Chunk 0 writes dw directly.
  std::vector<T> dw_part(dw ? static_cast<size_t>((chunks - 1) * kcrs) : 0);
  std::vector<double> db_part(db ? static_cast<size_t>(chunks * g.k) : 0, 0.0);
  for_image_chunks(g.n, [&](int64_t n0, int64_t n1, int64_t ch) {
    std::vector<T> col(direct || !dw ? 0 : static_cast<size_t>(crs * pq));
    T* dwc = ch == 0 ? dw : dw_part.data() + (ch - 1) * kcrs;
    for (int64_t n = n0; n < n1; ++n) {
      const T* dyn = dy + n * g.k * pq;
      if (dw) {
        const T* cols = x + n * g.c * hw;
        if (!direct) {
          im2col(g, cols, col.data());
          cols = col.data();
        }
        // dW (K, CRS) += dy_n (K, PQ) . col^T (PQ, CRS)
        gemm(false, true, g.k, crs, pq, T(1), dyn, pq, cols, pq, n == n0 ? T(0) : T(1), dwc, crs);
      }
      if (db) {
        double* dbc = db_part.data() + ch * g.k;
        for (int64_t k = 0; k < g.k; ++k) {
          const T* row = dyn + k * pq;
          double acc = 0;
          for (int64_t i = 0; i < pq; ++i) acc += row[i];
          dbc[k] += acc;
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

template void conv2d_forward<float>(const ConvShape&, const float*, const float*, const float*, float*);
template void conv2d_forward<double>(const ConvShape&, const double*, const double*, const double*, double*);
template void conv2d_backward_input<float>(const ConvShape&, const float*, const float*, float*);
template void conv2d_backward_input<double>(const ConvShape&, const double*, const double*, double*);
template void conv2d_backward_weight<float>(const ConvShape&, const float*, const float*, float*, float*);
template void conv2d_backward_weight<double>(const ConvShape&, const double*, const double*, double*, double*);

}  // namespace resa::cpu
