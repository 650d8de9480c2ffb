// CUDA 2-D convolution on contiguous NCHW tensors, as on the CPU (ops/cpu/conv.cpp): im2col + GEMM.
//
// Images are processed in groups of G: their columns lie side by side in one (C * R * S, G * P * Q)
// matrix, so that each cuBLAS call is wide enough to fill the GPU even where P * Q is 16 (the last stage
// of a CIFAR ResNet). G is bounded so that the column scratch stays under kColElems elements.
//   forward:         out (K, G*PQ) = w (K, CRS) . col (CRS, G*PQ), then scattered to y (G, K, PQ) + bias;
//   backward input:  dcol (CRS, G*PQ) = w^T (CRS, K) . dy (K, G*PQ), then col2im (a gather per input
//                    element, no atomics: the same summation order as the CPU's col2im);
//   backward weight: dW (K, CRS) += dy (K, G*PQ) . col^T (G*PQ, CRS) over the groups (beta = 1);
//   bias gradient:   one block per output channel, summed in double.
#include <algorithm>
#include <climits>

#include "resa/ops/cuda/loops.cuh"  // first: see there

#include "resa/ops/cuda/kernels.h"
#include "resa/ops/cuda/runtime.h"

namespace resa::cuda {
namespace {

using ops::ConvShape;

// At most this many elements in the column scratch (128 MB in float32).
constexpr int64_t kColElems = int64_t{1} << 25;

// Row-major C (m, n) = alpha op(A) op(B) + beta C on the device's cuBLAS handle (see ops/cuda/gemm.cpp for
// the row-major to column-major mapping).
template <typename T>
void gemm_rm(const char* op, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda,
             const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  for (int64_t v : {m, n, k, lda, ldb, ldc})
    RESA_CHECK(v >= 0 && v <= INT_MAX, "[{}] CUDA GEMM sizes must fit in 32 bits: m={} n={} k={}", op, m, n, k);
  if (m == 0 || n == 0) return;
  const cublasOperation_t oa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, ob = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const T alpha = T(1);
  cublasHandle_t h = cublas_handle();
  if constexpr (std::is_same_v<T, float>) {
    const cublasComputeType_t compute = allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    RESA_CUBLAS_CHECK(cublasGemmEx(h, ob, oa, int(n), int(m), int(k), &alpha, b, CUDA_R_32F, int(ldb), a, CUDA_R_32F,
                                   int(lda), &beta, c, CUDA_R_32F, int(ldc), compute, CUBLAS_GEMM_DEFAULT));
  } else {
    RESA_CUBLAS_CHECK(
        cublasDgemm(h, ob, oa, int(n), int(m), int(k), &alpha, b, int(ldb), a, int(lda), &beta, c, int(ldc)));
  }
}

// The per-element kernels index with I = int32_t when every index of a group fits (always for the
// column scratch, which is under kColElems): 64-bit division and modulo cost tens of instructions each
// on the GPU and dominated these memory-bound kernels.
template <typename I>
struct Dims {
  I c, h, w, r, s, p, q, sh, sw, ph, pw, dh, dw;
  __device__ explicit Dims(const ConvShape& g)
      : c(I(g.c)),
        h(I(g.h)),
        w(I(g.w)),
        r(I(g.r)),
        s(I(g.s)),
        p(I(g.p)),
        q(I(g.q)),
        sh(I(g.stride_h)),
        sw(I(g.stride_w)),
        ph(I(g.pad_h)),
        pw(I(g.pad_w)),
        dh(I(g.dil_h)),
        dw(I(g.dil_w)) {}
};

#define RESA_CONV_LOOP(I, t, total) \
  for (I t = blockIdx.x * I(blockDim.x) + threadIdx.x; t < (total); t += I(gridDim.x) * I(blockDim.x))

// x: (G, C, H, W) -> col: (C * R * S, G * P * Q); padding reads as zero. Blocks along y take rows
// (c, r, s), so that each element decomposes only its column index (image, p, q).
template <typename T, typename I>
__global__ void im2col_kernel(ConvShape g_, I gs, const T* __restrict__ x, T* __restrict__ col) {
  const Dims<I> g(g_);
  const I pq = g.p * g.q, ld = gs * pq, rows = g.c * g.r * g.s, chw = g.c * g.h * g.w;
  for (I row = blockIdx.y; row < rows; row += gridDim.y) {
    const I c = row / (g.r * g.s), rs = row - c * g.r * g.s;
    const I r = rs / g.s, s = rs - r * g.s;
    const I oh = r * g.dh - g.ph, ow = s * g.dw - g.pw;
    const T* xc = x + c * g.h * g.w;
    T* out = col + row * ld;
    RESA_CONV_LOOP(I, t, ld) {
      const I i = t / pq, j = t - i * pq;
      const I p = j / g.q, q = j - p * g.q;
      const I ih = p * g.sh + oh, iw = q * g.sw + ow;
      out[t] = (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) ? xc[i * chw + ih * g.w + iw] : T(0);
    }
  }
}

// Grid of im2col_kernel: x along a row of length ld, y over the rows.
dim3 im2col_grid(int64_t rows, int64_t ld) {
  const int64_t gx = std::max<int64_t>(1, std::min<int64_t>((ld + kBlock - 1) / kBlock, 65535));
  const int64_t gy = std::max<int64_t>(1, std::min<int64_t>(rows, 65535));
  return dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
}

// col: (C * R * S, G * P * Q) -> dx: (G, C, H, W), each input element the sum of the columns that read it
// (r, then s ascending, as the CPU's col2im adds them).
template <typename T, typename I>
__global__ void col2im_kernel(ConvShape g_, I gs, const T* __restrict__ col, T* __restrict__ dx) {
  const Dims<I> g(g_);
  const I pq = g.p * g.q, ld = gs * pq, total = gs * g.c * g.h * g.w;
  RESA_CONV_LOOP(I, t, total) {
    const I iw = t % g.w, t1 = t / g.w, ih = t1 % g.h, t2 = t1 / g.h, c = t2 % g.c, i = t2 / g.c;
    T acc = T(0);
    // Stride 1 (most layers) skips the divisions by the stride.
    const bool unit_h = g.sh == 1, unit_w = g.sw == 1;
    for (I r = 0; r < g.r; ++r) {
      const I hh = ih + g.ph - r * g.dh;
      if (hh < 0 || (!unit_h && hh % g.sh != 0)) continue;
      const I p = unit_h ? hh : hh / g.sh;
      if (p >= g.p) continue;
      for (I s = 0; s < g.s; ++s) {
        const I ww = iw + g.pw - s * g.dw;
        if (ww < 0 || (!unit_w && ww % g.sw != 0)) continue;
        const I q = unit_w ? ww : ww / g.sw;
        if (q >= g.q) continue;
        acc += col[((c * g.r + r) * g.s + s) * ld + i * pq + p * g.q + q];
      }
    }
    dx[t] = acc;
  }
}

// (K, G * PQ) -> (G, K, PQ), plus bias[k] when given.
template <typename T, typename I>
__global__ void scatter_images_kernel(I gs, I k, I pq, const T* __restrict__ src, const T* __restrict__ bias,
                                      T* __restrict__ dst) {
  const I total = gs * k * pq;
  RESA_CONV_LOOP(I, t, total) {
    const I j = t % pq, t1 = t / pq, kk = t1 % k, i = t1 / k;
    T v = src[kk * gs * pq + i * pq + j];
    if (bias) v += bias[kk];
    dst[t] = v;
  }
}

// (G, K, PQ) -> (K, G * PQ).
template <typename T, typename I>
__global__ void gather_images_kernel(I gs, I k, I pq, const T* __restrict__ src, T* __restrict__ dst) {
  const I total = gs * k * pq;
  RESA_CONV_LOOP(I, t, total) {
    const I kk = t / (gs * pq), j = t - kk * (gs * pq), i = j / pq;
    dst[t] = src[(i * k + kk) * pq + (j - i * pq)];
  }
}

// Runs f(I{}) with I = int32_t when every index of a group of gs images is below 2^30 (room for the
// grid-stride step, at most 2^23 threads, to not overflow), else with int64_t.
template <typename F>
void with_index_type(const ConvShape& g, int64_t gs, F&& f) {
  const int64_t limit = int64_t{1} << 30;
  const int64_t biggest = std::max({gs * g.c * g.h * g.w, gs * g.k * g.p * g.q, g.c * g.r * g.s * gs * g.p * g.q});
  if (biggest < limit && g.r * g.s < limit)
    f(int32_t{});
  else
    f(int64_t{});
}

// db[k] = sum over N, P, Q of dy (N, K, PQ), one block per channel, accumulated in double.
template <typename T>
__global__ void bias_grad_kernel(int64_t n, int64_t k, int64_t pq, const T* __restrict__ dy, T* __restrict__ db) {
  __shared__ double part[kBlock];
  for (int64_t kk = blockIdx.x; kk < k; kk += gridDim.x) {
    double acc = 0;
    for (int64_t j = threadIdx.x; j < n * pq; j += blockDim.x) {
      const int64_t i = j / pq;
      acc += static_cast<double>(dy[(i * k + kk) * pq + (j - i * pq)]);
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
      __syncthreads();
    }
    if (threadIdx.x == 0) db[kk] = static_cast<T>(part[0]);
    __syncthreads();
  }
}

// Images per group: the column scratch (C*R*S, G*P*Q) and the (K, G*P*Q) product both under kColElems.
int64_t group_size(const ConvShape& g) {
  const int64_t per = std::max<int64_t>(1, std::max(g.c * g.r * g.s, g.k) * g.p * g.q);
  return std::max<int64_t>(1, std::min(g.n, kColElems / per));
}

}  // namespace

void conv2d_forward(DType dtype, const ConvShape& g, const void* x_, const void* w_, const void* b_, void* y_) {
  dispatch_float(dtype, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(x_);
    const T* w = static_cast<const T*>(w_);
    const T* b = static_cast<const T*>(b_);
    T* y = static_cast<T*>(y_);
    const int64_t crs = g.c * g.r * g.s, pq = g.p * g.q, gmax = group_size(g);
    DeviceBuffer col(sizeof(T) * crs * gmax * pq), out(sizeof(T) * g.k * gmax * pq);
    for (int64_t n = 0; n < g.n; n += gmax) {
      const int64_t gs = std::min(gmax, g.n - n), ld = gs * pq;
      with_index_type(g, gs, [&](auto itag) {
        using I = decltype(itag);
        im2col_kernel<T, I>
            <<<im2col_grid(crs, ld), kBlock, 0, stream()>>>(g, I(gs), x + n * g.c * g.h * g.w, col.as<T>());
      });
      RESA_CUDA_LAUNCH_CHECK("im2col_kernel");
      gemm_rm<T>("conv2d", false, false, g.k, ld, crs, w, crs, col.as<T>(), ld, T(0), out.as<T>(), ld);
      with_index_type(g, gs, [&](auto itag) {
        using I = decltype(itag);
        scatter_images_kernel<T, I>
            <<<grid_for(g.k * ld), kBlock, 0, stream()>>>(I(gs), I(g.k), I(pq), out.as<T>(), b, y + n * g.k * pq);
      });
      RESA_CUDA_LAUNCH_CHECK("scatter_images_kernel");
    }
  });
}

void conv2d_backward_input(DType dtype, const ConvShape& g, const void* dy_, const void* w_, void* dx_) {
  dispatch_float(dtype, "conv2d_backward_input", [&](auto tag) {
    using T = decltype(tag);
    const T* dy = static_cast<const T*>(dy_);
    const T* w = static_cast<const T*>(w_);
    T* dx = static_cast<T*>(dx_);
    const int64_t crs = g.c * g.r * g.s, pq = g.p * g.q, gmax = group_size(g);
    DeviceBuffer col(sizeof(T) * crs * gmax * pq), dyg(sizeof(T) * g.k * gmax * pq);
    for (int64_t n = 0; n < g.n; n += gmax) {
      const int64_t gs = std::min(gmax, g.n - n), ld = gs * pq;
      with_index_type(g, gs, [&](auto itag) {
        using I = decltype(itag);
        gather_images_kernel<T, I>
            <<<grid_for(g.k * ld), kBlock, 0, stream()>>>(I(gs), I(g.k), I(pq), dy + n * g.k * pq, dyg.as<T>());
      });
      RESA_CUDA_LAUNCH_CHECK("gather_images_kernel");
      gemm_rm<T>("conv2d_backward_input", true, false, crs, ld, g.k, w, crs, dyg.as<T>(), ld, T(0), col.as<T>(), ld);
      with_index_type(g, gs, [&](auto itag) {
        using I = decltype(itag);
        col2im_kernel<T, I>
            <<<grid_for(gs * g.c * g.h * g.w), kBlock, 0, stream()>>>(g, I(gs), col.as<T>(), dx + n * g.c * g.h * g.w);
      });
      RESA_CUDA_LAUNCH_CHECK("col2im_kernel");
    }
  });
}

void conv2d_backward_weight(DType dtype, const ConvShape& g, const void* x_, const void* dy_, void* dw_, void* db_) {
  dispatch_float(dtype, "conv2d_backward_weight", [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(x_);
    const T* dy = static_cast<const T*>(dy_);
    T* dw = static_cast<T*>(dw_);
    T* db = static_cast<T*>(db_);
    const int64_t crs = g.c * g.r * g.s, pq = g.p * g.q;
    if (dw) {
      const int64_t gmax = group_size(g);
      DeviceBuffer col(sizeof(T) * crs * gmax * pq), dyg(sizeof(T) * g.k * gmax * pq);
      for (int64_t n = 0; n < g.n; n += gmax) {
        const int64_t gs = std::min(gmax, g.n - n), ld = gs * pq;
        with_index_type(g, gs, [&](auto itag) {
          using I = decltype(itag);
          im2col_kernel<T, I>
              <<<im2col_grid(crs, ld), kBlock, 0, stream()>>>(g, I(gs), x + n * g.c * g.h * g.w, col.as<T>());
          gather_images_kernel<T, I>
              <<<grid_for(g.k * ld), kBlock, 0, stream()>>>(I(gs), I(g.k), I(pq), dy + n * g.k * pq, dyg.as<T>());
        });
        RESA_CUDA_LAUNCH_CHECK("im2col_kernel");
        RESA_CUDA_LAUNCH_CHECK("gather_images_kernel");
        gemm_rm<T>("conv2d_backward_weight", false, true, g.k, crs, ld, dyg.as<T>(), ld, col.as<T>(), ld,
                   n == 0 ? T(0) : T(1), dw, crs);
      }
    }
    if (db) {
      const unsigned blocks = static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(g.k, 65535)));
      bias_grad_kernel<T><<<blocks, kBlock, 0, stream()>>>(g.n, g.k, pq, dy, db);
      RESA_CUDA_LAUNCH_CHECK("bias_grad_kernel");
    }
  });
}

}  // namespace resa::cuda
