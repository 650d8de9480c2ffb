// CUDA 2-D pooling over contiguous NCHW tensors, as on the CPU (ops/cpu/pool.cpp): one thread per output
// element forward; the average-pool backward gathers per input element (deterministic). The max-pool
// backward is not told the window geometry (only the argmax indices), so it scatters with atomicAdd: an
// input that is the maximum of several overlapping windows gets its terms in no fixed order (a few ulps).
#include <algorithm>

#include "resa/ops/cuda/loops.cuh"  // first: see there

#include "resa/ops/cuda/kernels.h"

namespace resa::cuda {
namespace {

using ops::PoolShape;

template <typename T>
__global__ void max_pool_kernel(PoolShape g, const T* __restrict__ x, T* __restrict__ y, int64_t* __restrict__ idx) {
  const int64_t pq = g.p * g.q;
  RESA_GRID_STRIDE(t, g.planes * pq) {
    const int64_t q = t % g.q, p = (t / g.q) % g.p, pl = t / pq;
    const T* xp = x + pl * g.h * g.w;
    const int64_t h0 = max(p * g.stride - g.pad, int64_t(0)), h1 = min(p * g.stride - g.pad + g.kernel, g.h);
    const int64_t w0 = max(q * g.stride - g.pad, int64_t(0)), w1 = min(q * g.stride - g.pad + g.kernel, g.w);
    int64_t best = h0 * g.w + w0;
    T best_v = xp[best];
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) {
        const T v = xp[ih * g.w + iw];
        if (v > best_v || (v != v && best_v == best_v)) {  // the first maximum; a NaN wins
          best_v = v;
          best = ih * g.w + iw;
        }
      }
    y[t] = best_v;
    idx[t] = best;
  }
}

template <typename T>
__global__ void max_pool_backward_kernel(PoolShape g, const T* __restrict__ dy, const int64_t* __restrict__ idx,
                                         T* __restrict__ dx) {
  const int64_t pq = g.p * g.q;
  RESA_GRID_STRIDE(t, g.planes * pq) { atomicAdd(dx + (t / pq) * g.h * g.w + idx[t], dy[t]); }
}

template <typename T>
__global__ void avg_pool_kernel(PoolShape g, const T* __restrict__ x, T* __restrict__ y) {
  const int64_t pq = g.p * g.q;
  const T scale = T(1) / static_cast<T>(g.kernel * g.kernel);
  RESA_GRID_STRIDE(t, g.planes * pq) {
    const int64_t q = t % g.q, p = (t / g.q) % g.p, pl = t / pq;
    const T* xp = x + pl * g.h * g.w;
    const int64_t h0 = max(p * g.stride - g.pad, int64_t(0)), h1 = min(p * g.stride - g.pad + g.kernel, g.h);
    const int64_t w0 = max(q * g.stride - g.pad, int64_t(0)), w1 = min(q * g.stride - g.pad + g.kernel, g.w);
    T acc = 0;
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) acc += xp[ih * g.w + iw];
    y[t] = acc * scale;
  }
}

// Each input element sums dy * scale over the windows that contain it (p, then q ascending, as the CPU).
template <typename T>
__global__ void avg_pool_backward_kernel(PoolShape g, const T* __restrict__ dy, T* __restrict__ dx) {
  const int64_t hw = g.h * g.w, pq = g.p * g.q;
  const T scale = T(1) / static_cast<T>(g.kernel * g.kernel);
  RESA_GRID_STRIDE(t, g.planes * hw) {
    const int64_t iw = t % g.w, ih = (t / g.w) % g.h, pl = t / hw;
    // Windows p with p * stride - pad <= ih < p * stride - pad + kernel.
    const int64_t ah = ih + g.pad - g.kernel, aw = iw + g.pad - g.kernel;
    const int64_t p0 = ah < 0 ? 0 : ah / g.stride + 1, q0 = aw < 0 ? 0 : aw / g.stride + 1;
    const int64_t p1 = min(g.p, (ih + g.pad) / g.stride + 1), q1 = min(g.q, (iw + g.pad) / g.stride + 1);
    T acc = 0;
    for (int64_t p = p0; p < p1; ++p) {
      if (p * g.stride - g.pad > ih || p * g.stride - g.pad + g.kernel <= ih) continue;
      for (int64_t q = q0; q < q1; ++q) {
        if (q * g.stride - g.pad > iw || q * g.stride - g.pad + g.kernel <= iw) continue;
        acc += dy[pl * pq + p * g.q + q] * scale;
      }
    }
    dx[t] = acc;
  }
}

}  // namespace

void max_pool2d_forward(DType dtype, const PoolShape& g, const void* x, void* y, int64_t* idx) {
  dispatch_float(dtype, "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    max_pool_kernel<T>
        <<<grid_for(g.planes * g.p * g.q), kBlock, 0, stream()>>>(g, static_cast<const T*>(x), static_cast<T*>(y), idx);
    RESA_CUDA_LAUNCH_CHECK("max_pool_kernel");
  });
}

void max_pool2d_backward(DType dtype, const PoolShape& g, const void* dy, const int64_t* idx, void* dx) {
  dispatch_float(dtype, "max_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    RESA_CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(T) * g.planes * g.h * g.w, stream()));
    max_pool_backward_kernel<T><<<grid_for(g.planes * g.p * g.q), kBlock, 0, stream()>>>(g, static_cast<const T*>(dy),
                                                                                         idx, static_cast<T*>(dx));
    RESA_CUDA_LAUNCH_CHECK("max_pool_backward_kernel");
  });
}

void avg_pool2d_forward(DType dtype, const PoolShape& g, const void* x, void* y) {
  dispatch_float(dtype, "avg_pool2d", [&](auto tag) {
    using T = decltype(tag);
    avg_pool_kernel<T>
        <<<grid_for(g.planes * g.p * g.q), kBlock, 0, stream()>>>(g, static_cast<const T*>(x), static_cast<T*>(y));
    RESA_CUDA_LAUNCH_CHECK("avg_pool_kernel");
  });
}

void avg_pool2d_backward(DType dtype, const PoolShape& g, const void* dy, void* dx) {
  dispatch_float(dtype, "avg_pool2d_backward", [&](auto tag) {
    using T = decltype(tag);
    avg_pool_backward_kernel<T>
        <<<grid_for(g.planes * g.h * g.w), kBlock, 0, stream()>>>(g, static_cast<const T*>(dy), static_cast<T*>(dx));
    RESA_CUDA_LAUNCH_CHECK("avg_pool_backward_kernel");
  });
}

}  // namespace resa::cuda
