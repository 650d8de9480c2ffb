#include "resa/ops/cpu/batchnorm_stats.h"

#include "resa/core/parallel.h"

namespace resa::cpu {

template <typename T>
void batch_norm_stats(int64_t n, int64_t c, int64_t l, const T* x, double* sum, double* sumsq) {
  parallel_for(c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      double s = 0, ss = 0;
      for (int64_t i = 0; i < n; ++i) {
        const T* p = x + (i * c + ch) * l;
        for (int64_t j = 0; j < l; ++j) {
          const double v = static_cast<double>(p[j]);
          s += v;
          ss += v * v;
        }
      }
      sum[ch] = s;
      sumsq[ch] = ss;
    }
  });
}

template <typename T>
void batch_norm_elemt(int64_t n, int64_t c, int64_t l, const T* x, const double* mean, const double* invstd,
                      const T* weight, const T* bias, T* y) {
  parallel_for(c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      // y = x * a + b folded per channel, in double as the single-process kernel does.
      const double w = weight ? static_cast<double>(weight[ch]) : 1.0;
      const double a = invstd[ch] * w;
      const double b = (bias ? static_cast<double>(bias[ch]) : 0.0) - mean[ch] * a;
      for (int64_t i = 0; i < n; ++i) {
        const T* p = x + (i * c + ch) * l;
        T* q = y + (i * c + ch) * l;
        for (int64_t j = 0; j < l; ++j) q[j] = static_cast<T>(static_cast<double>(p[j]) * a + b);
      }
    }
  });
}

template <typename T>
void batch_norm_backward_reduce(int64_t n, int64_t c, int64_t l, const T* dy, const T* x, const double* mean,
                                const double* invstd, double* sum_dy, double* sum_dy_xhat) {
  parallel_for(c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      double s = 0, sx = 0;
      const double m = mean[ch];
      for (int64_t i = 0; i < n; ++i) {
        const T* g = dy + (i * c + ch) * l;
        const T* p = x + (i * c + ch) * l;
        for (int64_t j = 0; j < l; ++j) {
          const double gv = static_cast<double>(g[j]);
          s += gv;
          sx += gv * (static_cast<double>(p[j]) - m);
        }
      }
      sum_dy[ch] = s;
      sum_dy_xhat[ch] = sx * invstd[ch];
    }
  });
}

template <typename T>
void batch_norm_backward_elemt(int64_t n, int64_t c, int64_t l, const T* dy, const T* x, const double* mean,
                               const double* invstd, const T* weight, const double* mean_dy, const double* mean_dy_xhat,
                               T* dx) {
  parallel_for(c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      const double is = invstd[ch], m = mean[ch];
      const double k = (weight ? static_cast<double>(weight[ch]) : 1.0) * is;
      const double md = mean_dy[ch], mdx = mean_dy_xhat[ch];
      for (int64_t i = 0; i < n; ++i) {
        const T* g = dy + (i * c + ch) * l;
        const T* p = x + (i * c + ch) * l;
        T* q = dx + (i * c + ch) * l;
        for (int64_t j = 0; j < l; ++j) {
          const double xhat = (static_cast<double>(p[j]) - m) * is;
          q[j] = static_cast<T>(k * (static_cast<double>(g[j]) - md - xhat * mdx));
        }
      }
    }
  });
}

#define RESA_INSTANTIATE(T)                                                                                      \
  template void batch_norm_stats<T>(int64_t, int64_t, int64_t, const T*, double*, double*);                      \
  template void batch_norm_elemt<T>(int64_t, int64_t, int64_t, const T*, const double*, const double*, const T*, \
                                    const T*, T*);                                                               \
  template void batch_norm_backward_reduce<T>(int64_t, int64_t, int64_t, const T*, const T*, const double*,      \
                                              const double*, double*, double*);                                  \
  template void batch_norm_backward_elemt<T>(int64_t, int64_t, int64_t, const T*, const T*, const double*,       \
                                             const double*, const T*, const double*, const double*, T*);
RESA_INSTANTIATE(float)
RESA_INSTANTIATE(double)
#undef RESA_INSTANTIATE

}  // namespace resa::cpu
