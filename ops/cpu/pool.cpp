#include "resa/ops/cpu/pool.h"

#include <algorithm>
#include <cmath>

#include "resa/core/parallel.h"

namespace resa::cpu {
namespace {
// Planes per thread chunk: enough work to pay for the threads.
int64_t plane_grain(const PoolShape& g) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, g.h * g.w)); }
}  // namespace

template <typename T>
void max_pool2d_forward(const PoolShape& g, const T* x, T* y, int64_t* idx) {
  const int64_t hw = g.h * g.w, pq = g.p * g.q;
  parallel_for(g.planes, plane_grain(g), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const T* xp = x + pl * hw;
      for (int64_t p = 0; p < g.p; ++p) {
        const int64_t h0 = std::max<int64_t>(p * g.stride - g.pad, 0);
        const int64_t h1 = std::min<int64_t>(p * g.stride - g.pad + g.kernel, g.h);
        for (int64_t q = 0; q < g.q; ++q) {
          const int64_t w0 = std::max<int64_t>(q * g.stride - g.pad, 0);
          const int64_t w1 = std::min<int64_t>(q * g.stride - g.pad + g.kernel, g.w);
          int64_t best = h0 * g.w + w0;
          T best_v = xp[best];
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) {
              const T v = xp[ih * g.w + iw];
              if (v > best_v || (std::isnan(v) && !std::isnan(best_v))) {
                best_v = v;
                best = ih * g.w + iw;
              }
            }
          y[pl * pq + p * g.q + q] = best_v;
          idx[pl * pq + p * g.q + q] = best;
        }
      }
    }
  });
}

template <typename T>
void max_pool2d_backward(const PoolShape& g, const T* dy, const int64_t* idx, T* dx) {
  const int64_t hw = g.h * g.w, pq = g.p * g.q;
  parallel_for(g.planes, plane_grain(g), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      T* dxp = dx + pl * hw;
      std::fill(dxp, dxp + hw, T(0));
      for (int64_t i = 0; i < pq; ++i) dxp[idx[pl * pq + i]] += dy[pl * pq + i];
    }
  });
}

template <typename T>
void avg_pool2d_forward(const PoolShape& g, const T* x, T* y) {
  const int64_t hw = g.h * g.w, pq = g.p * g.q;
  const T scale = T(1) / static_cast<T>(g.kernel * g.kernel);
  parallel_for(g.planes, plane_grain(g), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const T* xp = x + pl * hw;
      for (int64_t p = 0; p < g.p; ++p) {
        const int64_t h0 = std::max<int64_t>(p * g.stride - g.pad, 0);
        const int64_t h1 = std::min<int64_t>(p * g.stride - g.pad + g.kernel, g.h);
        for (int64_t q = 0; q < g.q; ++q) {
          const int64_t w0 = std::max<int64_t>(q * g.stride - g.pad, 0);
          const int64_t w1 = std::min<int64_t>(q * g.stride - g.pad + g.kernel, g.w);
          T acc = 0;
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) acc += xp[ih * g.w + iw];
          y[pl * pq + p * g.q + q] = acc * scale;
        }
      }
    }
  });
}

template <typename T>
void avg_pool2d_backward(const PoolShape& g, const T* dy, T* dx) {
  const int64_t hw = g.h * g.w, pq = g.p * g.q;
  const T scale = T(1) / static_cast<T>(g.kernel * g.kernel);
  parallel_for(g.planes, plane_grain(g), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      T* dxp = dx + pl * hw;
      std::fill(dxp, dxp + hw, T(0));
      for (int64_t p = 0; p < g.p; ++p) {
        const int64_t h0 = std::max<int64_t>(p * g.stride - g.pad, 0);
        const int64_t h1 = std::min<int64_t>(p * g.stride - g.pad + g.kernel, g.h);
        for (int64_t q = 0; q < g.q; ++q) {
          const int64_t w0 = std::max<int64_t>(q * g.stride - g.pad, 0);
          const int64_t w1 = std::min<int64_t>(q * g.stride - g.pad + g.kernel, g.w);
          const T v = dy[pl * pq + p * g.q + q] * scale;
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) dxp[ih * g.w + iw] += v;
        }
      }
    }
  });
}

template void max_pool2d_forward<float>(const PoolShape&, const float*, float*, int64_t*);
template void max_pool2d_forward<double>(const PoolShape&, const double*, double*, int64_t*);
template void max_pool2d_backward<float>(const PoolShape&, const float*, const int64_t*, float*);
template void max_pool2d_backward<double>(const PoolShape&, const double*, const int64_t*, double*);
template void avg_pool2d_forward<float>(const PoolShape&, const float*, float*);
template void avg_pool2d_forward<double>(const PoolShape&, const double*, double*);
template void avg_pool2d_backward<float>(const PoolShape&, const float*, float*);
template void avg_pool2d_backward<double>(const PoolShape&, const double*, double*);

void max_pool2d_forward(DType dtype, const PoolShape& g, const void* x, void* y, int64_t* idx) {
  RESA_DISPATCH_FLOAT(dtype, "max_pool2d", [&] {
    max_pool2d_forward<scalar_t>(g, static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y), idx);
  });
}

void max_pool2d_backward(DType dtype, const PoolShape& g, const void* dy, const int64_t* idx, void* dx) {
  RESA_DISPATCH_FLOAT(dtype, "max_pool2d_backward", [&] {
    max_pool2d_backward<scalar_t>(g, static_cast<const scalar_t*>(dy), idx, static_cast<scalar_t*>(dx));
  });
}

void avg_pool2d_forward(DType dtype, const PoolShape& g, const void* x, void* y) {
  RESA_DISPATCH_FLOAT(dtype, "avg_pool2d", [&] {
    avg_pool2d_forward<scalar_t>(g, static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y));
  });
}

void avg_pool2d_backward(DType dtype, const PoolShape& g, const void* dy, void* dx) {
  RESA_DISPATCH_FLOAT(dtype, "avg_pool2d_backward", [&] {
    avg_pool2d_backward<scalar_t>(g, static_cast<const scalar_t*>(dy), static_cast<scalar_t*>(dx));
  });
}

}  // namespace resa::cpu
