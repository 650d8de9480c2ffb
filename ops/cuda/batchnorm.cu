// CUDA batch normalisation over contiguous (N, C, L) tensors, as on the CPU (ops/cpu/batchnorm.cpp).
//
// Per-channel sums run as a two-level reduction in double: a grid of (segment, channel) blocks writes
// partial sums, then one thread per channel adds its segments in order and derives the per-channel
// coefficients, and an elementwise kernel applies them. Training takes two passes over x (the mean, then
// the squared deviations from it) so that the variance does not cancel; the results match the CPU's to
// double rounding of the sums (float32 outputs agree to a few ulps).
#include <algorithm>
#include <cmath>

#include "resa/ops/cuda/loops.cuh"  // first: see there

#include "resa/ops/cuda/kernels.h"
#include "resa/ops/cuda/runtime.h"

namespace resa::cuda {
namespace {

// The per-element kernels index with I = int32_t when the tensor has under 2^30 elements (room for the
// grid-stride step): 64-bit division and modulo cost tens of instructions each on the GPU, more than the
// memory traffic of these kernels.
template <typename F>
void with_index_type(int64_t numel, F&& f) {
  if (numel < (int64_t{1} << 30))
    f(int32_t{});
  else
    f(int64_t{});
}

enum class Sums { Mean, Deviation, Backward };

// Segments per channel: enough blocks to fill the GPU (8 blocks of kBlock threads per SM, full occupancy
// on sm_80/sm_90), at least 2048 elements per segment.
struct Split {
  int64_t segs, seg_len;
};
Split split_for(int64_t c, int64_t m) {
  const int64_t target = static_cast<int64_t>(sm_count()) * 8;
  int64_t segs = std::max<int64_t>(1, std::min((target + c - 1) / c, m / 2048));
  segs = std::min<int64_t>(segs, 65535);
  return {segs, (m + segs - 1) / segs};
}

// Block (s, ch) sums over elements j in segment s of channel ch (j = i * L + l over N and L):
//   Mean: (x, 0); Deviation: ((x - center)^2, 0); Backward: (dy, dy * (x - center)).
// out: (C, segs, 2).
template <typename T, typename I, Sums S>
__global__ void channel_sums_kernel(I n, I c, I l, I segs, I seg_len, const T* __restrict__ x, const T* __restrict__ dy,
                                    const double* center_d, const T* center_t, double* __restrict__ out) {
  __shared__ double part[2][kBlock];
  const I ch = blockIdx.y, s = blockIdx.x;
  const I m = n * l, j0 = s * seg_len, j1 = min(m, j0 + seg_len);
  double center = 0;
  if (S == Sums::Deviation) center = center_d[ch];
  if (S == Sums::Backward) center = static_cast<double>(center_t[ch]);
  double a = 0, b = 0;
  for (I j = j0 + I(threadIdx.x); j < j1; j += I(blockDim.x)) {
    const I i = j / l, pos = (i * c + ch) * l + (j - i * l);
    const double v = static_cast<double>(x[pos]);
    if (S == Sums::Mean) {
      a += v;
    } else if (S == Sums::Deviation) {
      const double d = v - center;
      a += d * d;
    } else {
      const double g = static_cast<double>(dy[pos]);
      a += g;
      b += g * (v - center);
    }
  }
  part[0][threadIdx.x] = a;
  part[1][threadIdx.x] = b;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) {
      part[0][threadIdx.x] += part[0][threadIdx.x + w];
      part[1][threadIdx.x] += part[1][threadIdx.x + w];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out[(int64_t(ch) * segs + s) * 2] = part[0][0];
    out[(int64_t(ch) * segs + s) * 2 + 1] = part[1][0];
  }
}

__device__ __forceinline__ void total_of(const double* partial, int64_t ch, int64_t segs, double& a, double& b) {
  a = 0;
  b = 0;
  for (int64_t s = 0; s < segs; ++s) {
    a += partial[(ch * segs + s) * 2];
    b += partial[(ch * segs + s) * 2 + 1];
  }
}

// scale/shift of y = x * scale + shift, in T as on the CPU.
template <typename T>
__device__ __forceinline__ void coefficients(const T* weight, const T* bias, int64_t ch, double mu, double is, T* scale,
                                             T* shift) {
  const double w = weight ? static_cast<double>(weight[ch]) : 1.0;
  scale[ch] = static_cast<T>(is * w);
  shift[ch] = static_cast<T>((bias ? static_cast<double>(bias[ch]) : 0.0) - mu * is * w);
}

__global__ void mean_finalize_kernel(int64_t c, int64_t segs, double m, const double* partial, double* mean_d) {
  RESA_GRID_STRIDE(ch, c) {
    double a, b;
    total_of(partial, ch, segs, a, b);
    mean_d[ch] = a / m;
  }
}

template <typename T>
__global__ void train_finalize_kernel(int64_t c, int64_t segs, double m, double eps, double momentum,
                                      const double* partial, const double* mean_d, const T* weight, const T* bias,
                                      T* mean, T* invstd, T* running_mean, T* running_var, T* scale, T* shift) {
  RESA_GRID_STRIDE(ch, c) {
    double ss, unused;
    total_of(partial, ch, segs, ss, unused);
    const double mu = mean_d[ch], is = 1.0 / sqrt(ss / m + eps);
    mean[ch] = static_cast<T>(mu);
    invstd[ch] = static_cast<T>(is);
    if (running_mean) running_mean[ch] = static_cast<T>((1 - momentum) * running_mean[ch] + momentum * mu);
    if (running_var) running_var[ch] = static_cast<T>((1 - momentum) * running_var[ch] + momentum * ss / (m - 1));
    coefficients(weight, bias, ch, mu, is, scale, shift);
  }
}

template <typename T>
__global__ void eval_finalize_kernel(int64_t c, double eps, const T* running_mean, const T* running_var,
                                     const T* weight, const T* bias, T* mean, T* invstd, T* scale, T* shift) {
  RESA_GRID_STRIDE(ch, c) {
    const double mu = running_mean[ch], is = 1.0 / sqrt(static_cast<double>(running_var[ch]) + eps);
    mean[ch] = static_cast<T>(mu);
    invstd[ch] = static_cast<T>(is);
    coefficients(weight, bias, ch, mu, is, scale, shift);
  }
}

template <typename T, typename I>
__global__ void normalize_kernel(I total, I c, I l, const T* __restrict__ x, const T* __restrict__ scale,
                                 const T* __restrict__ shift, T* __restrict__ y) {
  RESA_GRID_STRIDE_I(I, t, total) {
    const I ch = (t / l) % c;
    y[t] = x[t] * scale[ch] + shift[ch];
  }
}

// coef: (C, 3) = (w * invstd, mean(dy), mean(dy * xhat)) for dx; the mean terms are 0 in eval.
template <typename T>
__global__ void backward_finalize_kernel(int64_t c, int64_t segs, double m, bool training, const double* partial,
                                         const T* weight, const T* invstd, T* dweight, T* dbias, double* coef) {
  RESA_GRID_STRIDE(ch, c) {
    double sdy, sdyx;
    total_of(partial, ch, segs, sdy, sdyx);
    const double is = invstd[ch];
    sdyx *= is;
    if (dbias) dbias[ch] = static_cast<T>(sdy);
    if (dweight) dweight[ch] = static_cast<T>(sdyx);
    const double w = weight ? static_cast<double>(weight[ch]) : 1.0;
    coef[ch * 3] = w * is;
    coef[ch * 3 + 1] = training ? sdy / m : 0.0;
    coef[ch * 3 + 2] = training ? sdyx / m : 0.0;
  }
}

template <typename T, typename I>
__global__ void backward_input_kernel(I total, I c, I l, const T* __restrict__ dy, const T* __restrict__ x,
                                      const T* __restrict__ mean, const T* __restrict__ invstd,
                                      const double* __restrict__ coef, T* __restrict__ dx) {
  RESA_GRID_STRIDE_I(I, t, total) {
    const I ch = (t / l) % c;
    const double xhat = (static_cast<double>(x[t]) - static_cast<double>(mean[ch])) * static_cast<double>(invstd[ch]);
    dx[t] = static_cast<T>(coef[ch * 3] * (static_cast<double>(dy[t]) - coef[ch * 3 + 1] - xhat * coef[ch * 3 + 2]));
  }
}

}  // namespace

void batch_norm_train(DType dtype, int64_t n, int64_t c, int64_t l, const void* x_, const void* w_, const void* b_,
                      double eps, double momentum, void* y_, void* mean_, void* invstd_, void* rm_, void* rv_) {
  dispatch_float(dtype, "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    if (c == 0) return;
    RESA_CHECK(c <= 65535, "[batch_norm] the CUDA kernel takes at most 65535 channels, got {}", c);
    const T* x = static_cast<const T*>(x_);
    const int64_t m = n * l;
    const Split sp = split_for(c, m);
    DeviceBuffer partial(sizeof(double) * c * sp.segs * 2), mean_d(sizeof(double) * c), coef(sizeof(T) * c * 2);
    const dim3 grid(static_cast<unsigned>(sp.segs), static_cast<unsigned>(c));
    with_index_type(n * c * l, [&](auto itag) {
      using I = decltype(itag);
      channel_sums_kernel<T, I, Sums::Mean><<<grid, kBlock, 0, stream()>>>(
          I(n), I(c), I(l), I(sp.segs), I(sp.seg_len), x, nullptr, nullptr, nullptr, partial.as<double>());
    });
    RESA_CUDA_LAUNCH_CHECK("channel_sums_kernel");
    mean_finalize_kernel<<<grid_for(c), kBlock, 0, stream()>>>(c, sp.segs, double(m), partial.as<double>(),
                                                               mean_d.as<double>());
    RESA_CUDA_LAUNCH_CHECK("mean_finalize_kernel");
    with_index_type(n * c * l, [&](auto itag) {
      using I = decltype(itag);
      channel_sums_kernel<T, I, Sums::Deviation><<<grid, kBlock, 0, stream()>>>(
          I(n), I(c), I(l), I(sp.segs), I(sp.seg_len), x, nullptr, mean_d.as<double>(), nullptr, partial.as<double>());
    });
    RESA_CUDA_LAUNCH_CHECK("channel_sums_kernel");
    T* scale = coef.as<T>();
    train_finalize_kernel<T><<<grid_for(c), kBlock, 0, stream()>>>(
        c, sp.segs, double(m), eps, momentum, partial.as<double>(), mean_d.as<double>(), static_cast<const T*>(w_),
        static_cast<const T*>(b_), static_cast<T*>(mean_), static_cast<T*>(invstd_), static_cast<T*>(rm_),
        static_cast<T*>(rv_), scale, scale + c);
    RESA_CUDA_LAUNCH_CHECK("train_finalize_kernel");
    with_index_type(n * c * l, [&](auto itag) {
      using I = decltype(itag);
      normalize_kernel<T, I><<<grid_for(n * c * l), kBlock, 0, stream()>>>(I(n * c * l), I(c), I(l), x, scale,
                                                                           scale + c, static_cast<T*>(y_));
    });
    RESA_CUDA_LAUNCH_CHECK("normalize_kernel");
  });
}

void batch_norm_eval(DType dtype, int64_t n, int64_t c, int64_t l, const void* x_, const void* w_, const void* b_,
                     const void* rm_, const void* rv_, double eps, void* y_, void* mean_, void* invstd_) {
  dispatch_float(dtype, "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    DeviceBuffer coef(sizeof(T) * c * 2);
    T* scale = coef.as<T>();
    eval_finalize_kernel<T><<<grid_for(c), kBlock, 0, stream()>>>(
        c, eps, static_cast<const T*>(rm_), static_cast<const T*>(rv_), static_cast<const T*>(w_),
        static_cast<const T*>(b_), static_cast<T*>(mean_), static_cast<T*>(invstd_), scale, scale + c);
    RESA_CUDA_LAUNCH_CHECK("eval_finalize_kernel");
    with_index_type(n * c * l, [&](auto itag) {
      using I = decltype(itag);
      normalize_kernel<T, I><<<grid_for(n * c * l), kBlock, 0, stream()>>>(
          I(n * c * l), I(c), I(l), static_cast<const T*>(x_), scale, scale + c, static_cast<T*>(y_));
    });
    RESA_CUDA_LAUNCH_CHECK("normalize_kernel");
  });
}

void batch_norm_backward(DType dtype, int64_t n, int64_t c, int64_t l, const void* dy_, const void* x_, const void* w_,
                         const void* mean_, const void* invstd_, bool training, void* dx_, void* dw_, void* db_) {
  dispatch_float(dtype, "batch_norm_backward", [&](auto tag) {
    using T = decltype(tag);
    const T* dy = static_cast<const T*>(dy_);
    const T* x = static_cast<const T*>(x_);
    const T* mean = static_cast<const T*>(mean_);
    const T* invstd = static_cast<const T*>(invstd_);
    if (c == 0) return;
    RESA_CHECK(c <= 65535, "[batch_norm_backward] the CUDA kernel takes at most 65535 channels, got {}", c);
    const int64_t m = n * l;
    const Split sp = split_for(c, m);
    DeviceBuffer partial(sizeof(double) * c * sp.segs * 2), coef(sizeof(double) * c * 3);
    const dim3 grid(static_cast<unsigned>(sp.segs), static_cast<unsigned>(c));
    with_index_type(n * c * l, [&](auto itag) {
      using I = decltype(itag);
      channel_sums_kernel<T, I, Sums::Backward><<<grid, kBlock, 0, stream()>>>(
          I(n), I(c), I(l), I(sp.segs), I(sp.seg_len), x, dy, nullptr, mean, partial.as<double>());
    });
    RESA_CUDA_LAUNCH_CHECK("channel_sums_kernel");
    backward_finalize_kernel<T><<<grid_for(c), kBlock, 0, stream()>>>(
        c, sp.segs, double(m), training, partial.as<double>(), static_cast<const T*>(w_), invstd, static_cast<T*>(dw_),
        static_cast<T*>(db_), coef.as<double>());
    RESA_CUDA_LAUNCH_CHECK("backward_finalize_kernel");
    if (dx_) {
      with_index_type(n * c * l, [&](auto itag) {
        using I = decltype(itag);
        backward_input_kernel<T, I><<<grid_for(n * c * l), kBlock, 0, stream()>>>(
            I(n * c * l), I(c), I(l), dy, x, mean, invstd, coef.as<double>(), static_cast<T*>(dx_));
      });
      RESA_CUDA_LAUNCH_CHECK("backward_input_kernel");
    }
  });
}

}  // namespace resa::cuda
