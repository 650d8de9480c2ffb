// CUDA kernels of the softmax family (mirrors ops/cpu/softmax.h). As on the CPU, the max, the shift and
// every sum run in double; only the exp runs in the storage precision (float exp for float32).
//   inner == 1 (the dim is innermost): a warp per row (n <= 1024) or a block per row;
//   inner > 1: one thread per (outer, inner) column, reading down the dim (coalesced across inner).
// The mean over rows of the cross-entropies is summed by one block in a fixed order (deterministic).
#include "resa/ops/cuda/loops.cuh"  // first: see there

#include "resa/ops/cuda/kernels.h"

#include <type_traits>

namespace resa::cuda {
namespace {

template <typename T>
__device__ __forceinline__ double exp_t(double a) {
  if constexpr (std::is_same_v<T, float>)
    return static_cast<double>(expf(static_cast<float>(a)));
  else
    return ::exp(a);
}

struct SumOp {
  __device__ __forceinline__ double operator()(double a, double b) const { return a + b; }
};
struct MaxOp {  // std::max(a, b) as the CPU writes it
  __device__ __forceinline__ double operator()(double a, double b) const { return a < b ? b : a; }
};

// Reduces v over a group of `group` threads (32: each warp; else the whole block, blockDim.x <= 256).
// Every thread of the block must call it (it may synchronise the block); all group members get the result.
template <typename Op>
__device__ __forceinline__ double group_reduce(double v, int group, double* smem, Op op) {
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, s));
  if (group <= 32) return v;
  __syncthreads();  // smem may still be read from the previous call
  if (threadIdx.x % 32 == 0) smem[threadIdx.x / 32] = v;
  __syncthreads();
  double r = smem[0];
  for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w) r = op(r, smem[w]);
  return r;
}

int row_group(int64_t n) { return n <= 1024 ? 32 : kBlock; }

unsigned row_grid(int64_t rows, int group) {
  int64_t per_block = kBlock / group;
  int64_t blocks = (rows + per_block - 1) / per_block;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, sm_count() * 32)));
}

// ---- softmax / log_softmax forward ----
// x, y: (rows, n)
template <typename T>
__global__ void softmax_rows_kernel(bool log, int64_t rows, int64_t n, const T* __restrict__ x, T* __restrict__ y,
                                    int group) {
  __shared__ double smem[kBlock / 32];
  const int per_block = blockDim.x / group, lane = threadIdx.x % group;
  for (int64_t first = blockIdx.x * int64_t(per_block); first < rows; first += int64_t(gridDim.x) * per_block) {
    const int64_t row = first + threadIdx.x / group;
    const bool valid = row < rows;
    const T* xr = x + (valid ? row : 0) * n;
    T* yr = y + (valid ? row : 0) * n;
    double m = -INFINITY;
    if (valid)
      for (int64_t k = lane; k < n; k += group) m = MaxOp{}(m, static_cast<double>(xr[k]));
    m = group_reduce(m, group, smem, MaxOp{});
    double s = 0.0;
    if (valid)
      for (int64_t k = lane; k < n; k += group) s += exp_t<T>(static_cast<double>(xr[k]) - m);
    s = group_reduce(s, group, smem, SumOp{});
    if (!valid) continue;
    if (log) {
      const double shift = m + ::log(s);
      for (int64_t k = lane; k < n; k += group) yr[k] = static_cast<T>(static_cast<double>(xr[k]) - shift);
    } else {
      const double inv = 1.0 / s;
      // Rounded to T first, then scaled: the CPU's two roundings.
      for (int64_t k = lane; k < n; k += group)
        yr[k] = static_cast<T>(static_cast<double>(static_cast<T>(exp_t<T>(static_cast<double>(xr[k]) - m))) * inv);
    }
  }
}

// x, y: (outer, n, inner), one thread per (o, i)
template <typename T>
__global__ void softmax_cols_kernel(bool log, int64_t outer, int64_t n, int64_t inner, const T* __restrict__ x,
                                    T* __restrict__ y) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < outer * inner;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = (t / inner) * n * inner + t % inner;
    double m = -INFINITY, s = 0.0;
    for (int64_t k = 0; k < n; ++k) m = MaxOp{}(m, static_cast<double>(x[base + k * inner]));
    for (int64_t k = 0; k < n; ++k) s += exp_t<T>(static_cast<double>(x[base + k * inner]) - m);
    if (log) {
      const double shift = m + ::log(s);
      for (int64_t k = 0; k < n; ++k)
        y[base + k * inner] = static_cast<T>(static_cast<double>(x[base + k * inner]) - shift);
    } else {
      const double inv = 1.0 / s;
      for (int64_t k = 0; k < n; ++k)
        y[base + k * inner] = static_cast<T>(exp_t<T>(static_cast<double>(x[base + k * inner]) - m) * inv);
    }
  }
}

// ---- backward: softmax dx = y (g - sum g y); log_softmax dx = g - exp(y) sum g ----
template <typename T>
__device__ __forceinline__ T softmax_grad(bool log, T g, T y, double s) {
  return log ? static_cast<T>(static_cast<double>(g) - exp_t<T>(static_cast<double>(y)) * s)
             : static_cast<T>(static_cast<double>(y) * (static_cast<double>(g) - s));
}

template <typename T>
__global__ void softmax_backward_rows_kernel(bool log, int64_t rows, int64_t n, const T* __restrict__ g,
                                             const T* __restrict__ y, T* __restrict__ dx, int group) {
  __shared__ double smem[kBlock / 32];
  const int per_block = blockDim.x / group, lane = threadIdx.x % group;
  for (int64_t first = blockIdx.x * int64_t(per_block); first < rows; first += int64_t(gridDim.x) * per_block) {
    const int64_t row = first + threadIdx.x / group;
    const bool valid = row < rows;
    const int64_t off = (valid ? row : 0) * n;
    double s = 0.0;
    if (valid)
      for (int64_t k = lane; k < n; k += group)
        s += log ? static_cast<double>(g[off + k]) : static_cast<double>(g[off + k]) * static_cast<double>(y[off + k]);
    s = group_reduce(s, group, smem, SumOp{});
    if (!valid) continue;
    for (int64_t k = lane; k < n; k += group) dx[off + k] = softmax_grad<T>(log, g[off + k], y[off + k], s);
  }
}

template <typename T>
__global__ void softmax_backward_cols_kernel(bool log, int64_t outer, int64_t n, int64_t inner, const T* __restrict__ g,
                                             const T* __restrict__ y, T* __restrict__ dx) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < outer * inner;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = (t / inner) * n * inner + t % inner;
    double s = 0.0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t j = base + k * inner;
      s += log ? static_cast<double>(g[j]) : static_cast<double>(g[j]) * static_cast<double>(y[j]);
    }
    for (int64_t k = 0; k < n; ++k) {
      const int64_t j = base + k * inner;
      dx[j] = softmax_grad<T>(log, g[j], y[j], s);
    }
  }
}

// ---- cross-entropies ----
// Per row i of logits (N, C): lse[i], and per_row[i] = lse - x[label] (hard) or sum_c t (lse - x) (soft).
template <typename T>
__global__ void cross_entropy_rows_kernel(int64_t N, int64_t C, const T* __restrict__ x,
                                          const int64_t* __restrict__ labels, const T* __restrict__ target,
                                          double* __restrict__ lse, double* __restrict__ per_row, int group) {
  __shared__ double smem[kBlock / 32];
  const int per_block = blockDim.x / group, lane = threadIdx.x % group;
  for (int64_t first = blockIdx.x * int64_t(per_block); first < N; first += int64_t(gridDim.x) * per_block) {
    const int64_t row = first + threadIdx.x / group;
    const bool valid = row < N;
    const T* xr = x + (valid ? row : 0) * C;
    double m = -INFINITY;
    if (valid)
      for (int64_t c = lane; c < C; c += group) m = MaxOp{}(m, static_cast<double>(xr[c]));
    m = group_reduce(m, group, smem, MaxOp{});
    double s = 0.0;
    if (valid)
      for (int64_t c = lane; c < C; c += group) s += exp_t<T>(static_cast<double>(xr[c]) - m);
    s = group_reduce(s, group, smem, SumOp{});
    const double l = m + ::log(s);
    double acc = 0.0;
    if (target != nullptr) {
      const T* tr = target + (valid ? row : 0) * C;
      if (valid)
        for (int64_t c = lane; c < C; c += group) acc += static_cast<double>(tr[c]) * (l - static_cast<double>(xr[c]));
      acc = group_reduce(acc, group, smem, SumOp{});
    } else if (valid) {
      acc = l - static_cast<double>(xr[labels[row]]);
    }
    if (valid && lane == 0) {
      lse[row] = l;
      per_row[row] = acc;
    }
  }
}

// loss = mean(per_row), one block, fixed order.
template <typename T>
__global__ void mean_kernel(int64_t N, const double* __restrict__ v, T* __restrict__ loss) {
  __shared__ double smem[kBlock / 32];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) s += v[i];
  s = group_reduce(s, blockDim.x, smem, SumOp{});
  if (threadIdx.x == 0) *loss = static_cast<T>(s / static_cast<double>(N));
}

// dx[i, c] = g / N * (exp(x - lse_i) - [c == label_i])
template <typename T>
__global__ void cross_entropy_backward_kernel(int64_t N, int64_t C, const T* __restrict__ g, const T* __restrict__ x,
                                              const int64_t* __restrict__ labels, const double* __restrict__ lse,
                                              T* __restrict__ dx) {
  const double scale = static_cast<double>(*g) / static_cast<double>(N);
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < N * C; j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = j / C, c = j % C;
    const double p = exp_t<T>(static_cast<double>(x[j]) - lse[i]);
    dx[j] = static_cast<T>(scale * (c == labels[i] ? p - 1.0 : p));
  }
}

// dx = g / N * (softmax * rowsum(t) - t), dt = -g / N * (x - lse); either may be null.
template <typename T>
__global__ void cross_entropy_soft_backward_kernel(int64_t N, int64_t C, const T* __restrict__ g,
                                                   const T* __restrict__ x, const T* __restrict__ t,
                                                   const double* __restrict__ lse, T* __restrict__ dx,
                                                   T* __restrict__ dt, int group) {
  __shared__ double smem[kBlock / 32];
  const double scale = static_cast<double>(*g) / static_cast<double>(N);
  const int per_block = blockDim.x / group, lane = threadIdx.x % group;
  for (int64_t first = blockIdx.x * int64_t(per_block); first < N; first += int64_t(gridDim.x) * per_block) {
    const int64_t row = first + threadIdx.x / group;
    const bool valid = row < N;
    const int64_t off = (valid ? row : 0) * C;
    double st = 0.0;
    if (dx != nullptr) {
      if (valid)
        for (int64_t c = lane; c < C; c += group) st += static_cast<double>(t[off + c]);
      st = group_reduce(st, group, smem, SumOp{});
    }
    if (!valid) continue;
    for (int64_t c = lane; c < C; c += group) {
      const double xl = static_cast<double>(x[off + c]) - lse[row];
      if (dx != nullptr) dx[off + c] = static_cast<T>(scale * (exp_t<T>(xl) * st - static_cast<double>(t[off + c])));
      if (dt != nullptr) dt[off + c] = static_cast<T>(-scale * xl);
    }
  }
}

}  // namespace

void softmax(DType dtype, bool log, int64_t outer, int64_t n, int64_t inner, const void* x, void* y) {
  if (outer * n * inner == 0) return;
  RESA_DISPATCH_FLOAT(dtype, "softmax", [&] {
    auto* px = static_cast<const scalar_t*>(x);
    auto* py = static_cast<scalar_t*>(y);
    if (inner == 1) {
      int group = row_group(n);
      softmax_rows_kernel<<<row_grid(outer, group), kBlock, 0, stream()>>>(log, outer, n, px, py, group);
      RESA_CUDA_LAUNCH_CHECK("softmax_rows_kernel");
    } else {
      softmax_cols_kernel<<<grid_for(outer * inner), kBlock, 0, stream()>>>(log, outer, n, inner, px, py);
      RESA_CUDA_LAUNCH_CHECK("softmax_cols_kernel");
    }
  });
}

void softmax_backward(DType dtype, bool log, int64_t outer, int64_t n, int64_t inner, const void* g, const void* y,
                      void* dx) {
  if (outer * n * inner == 0) return;
  RESA_DISPATCH_FLOAT(dtype, "softmax_backward", [&] {
    auto* pg = static_cast<const scalar_t*>(g);
    auto* py = static_cast<const scalar_t*>(y);
    auto* pd = static_cast<scalar_t*>(dx);
    if (inner == 1) {
      int group = row_group(n);
      softmax_backward_rows_kernel<<<row_grid(outer, group), kBlock, 0, stream()>>>(log, outer, n, pg, py, pd, group);
      RESA_CUDA_LAUNCH_CHECK("softmax_backward_rows_kernel");
    } else {
      softmax_backward_cols_kernel<<<grid_for(outer * inner), kBlock, 0, stream()>>>(log, outer, n, inner, pg, py, pd);
      RESA_CUDA_LAUNCH_CHECK("softmax_backward_cols_kernel");
    }
  });
}

namespace {
template <typename T>
void cross_entropy_forward(int64_t N, int64_t C, const T* x, const int64_t* labels, const T* target, T* loss,
                           double* lse) {
  DeviceBuffer per_row(static_cast<size_t>(N) * sizeof(double));
  int group = row_group(C);
  cross_entropy_rows_kernel<<<row_grid(N, group), kBlock, 0, stream()>>>(N, C, x, labels, target, lse,
                                                                         per_row.as<double>(), group);
  RESA_CUDA_LAUNCH_CHECK("cross_entropy_rows_kernel");
  mean_kernel<<<1, kBlock, 0, stream()>>>(N, per_row.as<double>(), loss);
  RESA_CUDA_LAUNCH_CHECK("mean_kernel");
}
}  // namespace

void cross_entropy(DType dtype, int64_t N, int64_t C, const void* logits, const int64_t* labels, void* loss,
                   void* lse) {
  RESA_DISPATCH_FLOAT(dtype, "cross_entropy", [&] {
    cross_entropy_forward<scalar_t>(N, C, static_cast<const scalar_t*>(logits), labels, nullptr,
                                    static_cast<scalar_t*>(loss), static_cast<double*>(lse));
  });
}

void cross_entropy_backward(DType dtype, int64_t N, int64_t C, const void* g, const void* logits, const int64_t* labels,
                            const void* lse, void* dlogits) {
  RESA_DISPATCH_FLOAT(dtype, "cross_entropy_backward", [&] {
    cross_entropy_backward_kernel<<<grid_for(N * C), kBlock, 0, stream()>>>(
        N, C, static_cast<const scalar_t*>(g), static_cast<const scalar_t*>(logits), labels,
        static_cast<const double*>(lse), static_cast<scalar_t*>(dlogits));
    RESA_CUDA_LAUNCH_CHECK("cross_entropy_backward_kernel");
  });
}

void cross_entropy_soft(DType dtype, int64_t N, int64_t C, const void* logits, const void* target, void* loss,
                        void* lse) {
  RESA_DISPATCH_FLOAT(dtype, "cross_entropy_soft", [&] {
    cross_entropy_forward<scalar_t>(N, C, static_cast<const scalar_t*>(logits), nullptr,
                                    static_cast<const scalar_t*>(target), static_cast<scalar_t*>(loss),
                                    static_cast<double*>(lse));
  });
}

void cross_entropy_soft_backward(DType dtype, int64_t N, int64_t C, const void* g, const void* logits,
                                 const void* target, const void* lse, void* dlogits, void* dtarget) {
  RESA_DISPATCH_FLOAT(dtype, "cross_entropy_soft_backward", [&] {
    int group = row_group(C);
    cross_entropy_soft_backward_kernel<<<row_grid(N, group), kBlock, 0, stream()>>>(
        N, C, static_cast<const scalar_t*>(g), static_cast<const scalar_t*>(logits),
        static_cast<const scalar_t*>(target), static_cast<const double*>(lse), static_cast<scalar_t*>(dlogits),
        static_cast<scalar_t*>(dtarget), group);
    RESA_CUDA_LAUNCH_CHECK("cross_entropy_soft_backward_kernel");
  });
}

}  // namespace resa::cuda
