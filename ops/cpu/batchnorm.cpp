#include "resa/ops/cpu/batchnorm.h"

#include <algorithm>
#include <cmath>

#include "resa/core/parallel.h"

namespace resa::cpu {
namespace {
int64_t channel_grain(int64_t n, int64_t l) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, n * l)); }

// Row sums. A row is summed in its own type in blocks of kBlock elements with 8 independent lanes
// (one AVX register of floats, two SSE ones; the compiler vectorises the lane loops), and the blocks are
// added in double. So the rounding error of the float part stays that of a 128-term sum, while the
// loops run at vector speed: a plain double accumulator chain runs at one add per add-latency.
constexpr int64_t kLanes = 8, kBlock = 1024;

// sum_j f(j) over [0, l), f returning T.
template <typename T, typename F>
double blocked_sum(int64_t l, F&& f) {
  double total = 0;
  for (int64_t b0 = 0; b0 < l; b0 += kBlock) {
    const int64_t b1 = std::min(l, b0 + kBlock);
    T acc[kLanes] = {};
    int64_t j = b0;
    for (; j + kLanes <= b1; j += kLanes)
      for (int64_t t = 0; t < kLanes; ++t) acc[t] += f(j + t);
    T tail = 0;
    for (; j < b1; ++j) tail += f(j);
    double block = tail;
    for (int64_t t = 0; t < kLanes; ++t) block += acc[t];
    total += block;
  }
  return total;
}

template <typename T>
double row_sum(const T* x, int64_t l) {
  return blocked_sum<T>(l, [x](int64_t j) { return x[j]; });
}

// sum_j (x_j - mu)^2
template <typename T>
double row_sq_dev(const T* x, int64_t l, double mu) {
  const T m = static_cast<T>(mu);
  return blocked_sum<T>(l, [x, m](int64_t j) {
    const T d = x[j] - m;
    return d * d;
  });
}

// sum_j dy_j and sum_j dy_j (x_j - mu), added to sdy and sdyx.
template <typename T>
void row_dy_dyx(const T* dy, const T* x, int64_t l, double mu, double& sdy, double& sdyx) {
  const T m = static_cast<T>(mu);
  sdy += blocked_sum<T>(l, [dy](int64_t j) { return dy[j]; });
  sdyx += blocked_sum<T>(l, [dy, x, m](int64_t j) { return dy[j] * (x[j] - m); });
}

// y = (x - mean) * invstd * weight + bias for channel ch, as one scale and shift.
template <typename T>
void normalize_channel(int64_t n, int64_t c, int64_t l, int64_t ch, const T* x, const T* weight, const T* bias,
                       double mean, double invstd, T* y) {
  const double w = weight ? static_cast<double>(weight[ch]) : 1.0;
  const T scale = static_cast<T>(invstd * w);
  const T shift = static_cast<T>((bias ? static_cast<double>(bias[ch]) : 0.0) - mean * invstd * w);
  for (int64_t i = 0; i < n; ++i) {
    const T* xr = x + (i * c + ch) * l;
    T* yr = y + (i * c + ch) * l;
    for (int64_t j = 0; j < l; ++j) yr[j] = xr[j] * scale + shift;
  }
}
}  // namespace

template <typename T>
void batch_norm_train(int64_t n, int64_t c, int64_t l, const T* x, const T* weight, const T* bias, double eps,
                      double momentum, T* y, T* mean, T* invstd, T* running_mean, T* running_var) {
  const double m = static_cast<double>(n * l);
  parallel_for(c, channel_grain(n, l), [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      // Two passes (mean, then squared deviations) so the variance does not cancel.
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += row_sum(x + (i * c + ch) * l, l);
      const double mu = s / m;
      double ss = 0;
      for (int64_t i = 0; i < n; ++i) ss += row_sq_dev(x + (i * c + ch) * l, l, mu);
      const double var = ss / m;
      const double is = 1.0 / std::sqrt(var + eps);
      mean[ch] = static_cast<T>(mu);
      invstd[ch] = static_cast<T>(is);
      if (running_mean) running_mean[ch] = static_cast<T>((1 - momentum) * running_mean[ch] + momentum * mu);
      if (running_var) running_var[ch] = static_cast<T>((1 - momentum) * running_var[ch] + momentum * ss / (m - 1));
      normalize_channel(n, c, l, ch, x, weight, bias, mu, is, y);
    }
  });
}

template <typename T>
void batch_norm_eval(int64_t n, int64_t c, int64_t l, const T* x, const T* weight, const T* bias, const T* running_mean,
                     const T* running_var, double eps, T* y, T* mean, T* invstd) {
  parallel_for(c, channel_grain(n, l), [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      const double mu = running_mean[ch];
      const double is = 1.0 / std::sqrt(static_cast<double>(running_var[ch]) + eps);
      mean[ch] = static_cast<T>(mu);
      invstd[ch] = static_cast<T>(is);
      normalize_channel(n, c, l, ch, x, weight, bias, mu, is, y);
    }
  });
}

template <typename T>
void batch_norm_backward(int64_t n, int64_t c, int64_t l, const T* dy, const T* x, const T* weight, const T* mean,
                         const T* invstd, bool training, T* dx, T* dweight, T* dbias) {
  const double m = static_cast<double>(n * l);
  parallel_for(c, channel_grain(n, l), [&](int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      const double mu = mean[ch], is = invstd[ch];
      // sum(dy) and sum(dy * xhat), xhat = (x - mean) * invstd.
      double sdy = 0, sdyx = 0;
      for (int64_t i = 0; i < n; ++i) row_dy_dyx(dy + (i * c + ch) * l, x + (i * c + ch) * l, l, mu, sdy, sdyx);
      sdyx *= is;
      if (dbias) dbias[ch] = static_cast<T>(sdy);
      if (dweight) dweight[ch] = static_cast<T>(sdyx);
      if (!dx) continue;
      const double w = weight ? static_cast<double>(weight[ch]) : 1.0;
      const double k = w * is;
      // training: dx = w * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)); eval: dx = w * invstd * dy.
      // As dx = k * dy + (x - mean) * a + b, in T: one multiply-add chain per element, vectorised.
      const double mdy = training ? sdy / m : 0.0, mdyx = training ? sdyx / m : 0.0;
      const T kt = static_cast<T>(k), a = static_cast<T>(-k * is * mdyx), b = static_cast<T>(-k * mdy);
      const T mt = static_cast<T>(mu);
      for (int64_t i = 0; i < n; ++i) {
        const T* dyr = dy + (i * c + ch) * l;
        const T* xr = x + (i * c + ch) * l;
        T* dxr = dx + (i * c + ch) * l;
        for (int64_t j = 0; j < l; ++j) dxr[j] = kt * dyr[j] + (xr[j] - mt) * a + b;
      }
    }
  });
}

#define RESA_BN_INSTANTIATE(T)                                                                                       \
  template void batch_norm_train<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, double, double, T*, T*, \
                                    T*, T*, T*);                                                                     \
  template void batch_norm_eval<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*, const T*,      \
                                   double, T*, T*, T*);                                                              \
  template void batch_norm_backward<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*, const T*,  \
                                       bool, T*, T*, T*);
RESA_BN_INSTANTIATE(float)
RESA_BN_INSTANTIATE(double)
#undef RESA_BN_INSTANTIATE

void batch_norm_train(DType dtype, int64_t n, int64_t c, int64_t l, const void* x, const void* weight, const void* bias,
                      double eps, double momentum, void* y, void* mean, void* invstd, void* running_mean,
                      void* running_var) {
  RESA_DISPATCH_FLOAT(dtype, "batch_norm", [&] {
    using T = scalar_t;
    batch_norm_train<T>(n, c, l, static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<const T*>(bias),
                        eps, momentum, static_cast<T*>(y), static_cast<T*>(mean), static_cast<T*>(invstd),
                        static_cast<T*>(running_mean), static_cast<T*>(running_var));
  });
}

void batch_norm_eval(DType dtype, int64_t n, int64_t c, int64_t l, const void* x, const void* weight, const void* bias,
                     const void* running_mean, const void* running_var, double eps, void* y, void* mean, void* invstd) {
  RESA_DISPATCH_FLOAT(dtype, "batch_norm", [&] {
    using T = scalar_t;
    batch_norm_eval<T>(n, c, l, static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<const T*>(bias),
                       static_cast<const T*>(running_mean), static_cast<const T*>(running_var), eps, static_cast<T*>(y),
                       static_cast<T*>(mean), static_cast<T*>(invstd));
  });
}

void batch_norm_backward(DType dtype, int64_t n, int64_t c, int64_t l, const void* dy, const void* x,
                         const void* weight, const void* mean, const void* invstd, bool training, void* dx,
                         void* dweight, void* dbias) {
  RESA_DISPATCH_FLOAT(dtype, "batch_norm_backward", [&] {
    using T = scalar_t;
    batch_norm_backward<T>(n, c, l, static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<const T*>(weight),
                           static_cast<const T*>(mean), static_cast<const T*>(invstd), training, static_cast<T*>(dx),
                           static_cast<T*>(dweight), static_cast<T*>(dbias));
  });
}

}  // namespace resa::cpu
