// CUDA kernels of synchronized batch norm. The two reductions run one block per channel, summing in
// double in a fixed order (deterministic); the two elementwise kernels are grid-stride loops.
#include "resa/ops/cuda/loops.cuh"  // first: see there

#include "resa/ops/cuda/batchnorm_stats.h"

namespace resa::cuda {
namespace {

constexpr int kThreads = 256;

// Sums a and b over the block; thread 0 gets the totals.
__device__ __forceinline__ void block_sum2(double& a, double& b) {
  __shared__ double sa[kThreads], sb[kThreads];
  sa[threadIdx.x] = a;
  sb[threadIdx.x] = b;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) {
      sa[threadIdx.x] += sa[threadIdx.x + s];
      sb[threadIdx.x] += sb[threadIdx.x + s];
    }
    __syncthreads();
  }
  a = sa[0];
  b = sb[0];
}

// x: (N, C, L) -> sum, sumsq: (C); block ch sums channel ch.
template <typename T>
__global__ void stats_kernel(int64_t n, int64_t c, int64_t l, const T* x, double* sum, double* sumsq) {
  const int64_t ch = blockIdx.x, m = n * l;
  double s = 0, ss = 0;
  for (int64_t k = threadIdx.x; k < m; k += kThreads) {
    const double v = static_cast<double>(x[((k / l) * c + ch) * l + k % l]);
    s += v;
    ss += v * v;
  }
  block_sum2(s, ss);
  if (threadIdx.x == 0) {
    sum[ch] = s;
    sumsq[ch] = ss;
  }
}

// dy, x: (N, C, L) -> sum_dy, sum_dy_xhat: (C).
template <typename T>
__global__ void backward_reduce_kernel(int64_t n, int64_t c, int64_t l, const T* dy, const T* x, const double* mean,
                                       const double* invstd, double* sum_dy, double* sum_dy_xhat) {
  const int64_t ch = blockIdx.x, m = n * l;
  const double mu = mean[ch];
  double s = 0, sx = 0;
  for (int64_t k = threadIdx.x; k < m; k += kThreads) {
    const int64_t i = ((k / l) * c + ch) * l + k % l;
    const double g = static_cast<double>(dy[i]);
    s += g;
    sx += g * (static_cast<double>(x[i]) - mu);
  }
  block_sum2(s, sx);
  if (threadIdx.x == 0) {
    sum_dy[ch] = s;
    sum_dy_xhat[ch] = sx * invstd[ch];
  }
}

// x: (N, C, L) -> y: (N, C, L).
template <typename T>
__global__ void elemt_kernel(int64_t total, int64_t c, int64_t l, const T* x, const double* mean, const double* invstd,
                             const T* weight, const T* bias, T* y) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t ch = (i / l) % c;
    const double a = invstd[ch] * (weight ? static_cast<double>(weight[ch]) : 1.0);
    const double b = (bias ? static_cast<double>(bias[ch]) : 0.0) - mean[ch] * a;
    y[i] = static_cast<T>(static_cast<double>(x[i]) * a + b);
  }
}

// dy, x: (N, C, L) -> dx: (N, C, L).
template <typename T>
__global__ void backward_elemt_kernel(int64_t total, int64_t c, int64_t l, const T* dy, const T* x, const double* mean,
                                      const double* invstd, const T* weight, const double* mean_dy,
                                      const double* mean_dy_xhat, T* dx) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t ch = (i / l) % c;
    const double is = invstd[ch];
    const double k = (weight ? static_cast<double>(weight[ch]) : 1.0) * is;
    const double xhat = (static_cast<double>(x[i]) - mean[ch]) * is;
    dx[i] = static_cast<T>(k * (static_cast<double>(dy[i]) - mean_dy[ch] - xhat * mean_dy_xhat[ch]));
  }
}

template <typename F>
void by_dtype(DType dtype, const char* op, F&& f) {
  if (dtype == DType::Float32)
    f(float{});
  else if (dtype == DType::Float64)
    f(double{});
  else
    RESA_FAIL("[{}] CUDA kernel takes float32 or float64, got {}", op, dtype_name(dtype));
}

}  // namespace

void batch_norm_stats(DType dtype, int64_t n, int64_t c, int64_t l, const void* x, double* sum, double* sumsq) {
  if (c == 0) return;
  by_dtype(dtype, "batch_norm_stats", [&](auto tag) {
    using T = decltype(tag);
    stats_kernel<T><<<static_cast<unsigned>(c), kThreads, 0, stream()>>>(n, c, l, static_cast<const T*>(x), sum, sumsq);
    RESA_CUDA_LAUNCH_CHECK("stats_kernel");
  });
}

void batch_norm_elemt(DType dtype, int64_t n, int64_t c, int64_t l, const void* x, const double* mean,
                      const double* invstd, const void* weight, const void* bias, void* y) {
  const int64_t total = n * c * l;
  if (total == 0) return;
  by_dtype(dtype, "batch_norm_elemt", [&](auto tag) {
    using T = decltype(tag);
    elemt_kernel<T><<<grid_for(total), kBlock, 0, stream()>>>(total, c, l, static_cast<const T*>(x), mean, invstd,
                                                              static_cast<const T*>(weight),
                                                              static_cast<const T*>(bias), static_cast<T*>(y));
    RESA_CUDA_LAUNCH_CHECK("elemt_kernel");
  });
}

void batch_norm_backward_reduce(DType dtype, int64_t n, int64_t c, int64_t l, const void* dy, const void* x,
                                const double* mean, const double* invstd, double* sum_dy, double* sum_dy_xhat) {
  if (c == 0) return;
  by_dtype(dtype, "batch_norm_backward_reduce", [&](auto tag) {
    using T = decltype(tag);
    backward_reduce_kernel<T><<<static_cast<unsigned>(c), kThreads, 0, stream()>>>(
        n, c, l, static_cast<const T*>(dy), static_cast<const T*>(x), mean, invstd, sum_dy, sum_dy_xhat);
    RESA_CUDA_LAUNCH_CHECK("backward_reduce_kernel");
  });
}

void batch_norm_backward_elemt(DType dtype, int64_t n, int64_t c, int64_t l, const void* dy, const void* x,
                               const double* mean, const double* invstd, const void* weight, const double* mean_dy,
                               const double* mean_dy_xhat, void* dx) {
  const int64_t total = n * c * l;
  if (total == 0) return;
  by_dtype(dtype, "batch_norm_backward_elemt", [&](auto tag) {
    using T = decltype(tag);
    backward_elemt_kernel<T><<<grid_for(total), kBlock, 0, stream()>>>(
        total, c, l, static_cast<const T*>(dy), static_cast<const T*>(x), mean, invstd, static_cast<const T*>(weight),
        mean_dy, mean_dy_xhat, static_cast<T*>(dx));
    RESA_CUDA_LAUNCH_CHECK("backward_elemt_kernel");
  });
}

}  // namespace resa::cuda
