#include "ops/cpu/batchnorm.h"

#include <cmath>

#include "core/parallel.h"

namespace resa::cpu {
namespace {
int64_t channel_grain(int64_t n, int64_t l) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, n * l)); }

// Row sums in double with four independent accumulators: one chain of dependent double adds runs at
// one add per add-latency, four keep the adder busy. (Only the order of the double additions changes.)
template <typename T>
double row_sum(const T* x, int64_t l) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t j = 0;
  for (; j + 4 <= l; j += 4) a0 += x[j], a1 += x[j + 1], a2 += x[j + 2], a3 += x[j + 3];
  for (; j < l; ++j) a0 += x[j];
  return (a0 + a1) + (a2 + a3);
}

// sum_j (x_j - mu)^2
template <typename T>
double row_sq_dev(const T* x, int64_t l, double mu) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t j = 0;
  for (; j + 4 <= l; j += 4) {
    const double d0 = x[j] - mu, d1 = x[j + 1] - mu, d2 = x[j + 2] - mu, d3 = x[j + 3] - mu;
    a0 += d0 * d0, a1 += d1 * d1, a2 += d2 * d2, a3 += d3 * d3;
  }
  for (; j < l; ++j) {
    const double d = x[j] - mu;
    a0 += d * d;
  }
  return (a0 + a1) + (a2 + a3);
}

// sum_j dy_j and sum_j dy_j (x_j - mu), added to sdy and sdyx.
template <typename T>
void row_dy_dyx(const T* dy, const T* x, int64_t l, double mu, double& sdy, double& sdyx) {
  double s0 = 0, s1 = 0, p0 = 0, p1 = 0;
  int64_t j = 0;
  for (; j + 2 <= l; j += 2) {
    s0 += dy[j], s1 += dy[j + 1];
    p0 += dy[j] * (x[j] - mu), p1 += dy[j + 1] * (x[j + 1] - mu);
  }
  for (; j < l; ++j) s0 += dy[j], p0 += dy[j] * (x[j] - mu);
  sdy += s0 + s1;
  sdyx += p0 + p1;
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
      if (running_var)
        running_var[ch] = static_cast<T>((1 - momentum) * running_var[ch] + momentum * ss / (m - 1));
      normalize_channel(n, c, l, ch, x, weight, bias, mu, is, y);
    }
  });
}

template <typename T>
void batch_norm_eval(int64_t n, int64_t c, int64_t l, const T* x, const T* weight, const T* bias,
                     const T* running_mean, const T* running_var, double eps, T* y, T* mean, T* invstd) {
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
      const double mdy = training ? sdy / m : 0.0, mdyx = training ? sdyx / m : 0.0;
      for (int64_t i = 0; i < n; ++i) {
        const T* dyr = dy + (i * c + ch) * l;
        const T* xr = x + (i * c + ch) * l;
        T* dxr = dx + (i * c + ch) * l;
        for (int64_t j = 0; j < l; ++j) {
          const double xhat = (xr[j] - mu) * is;
          dxr[j] = static_cast<T>(k * (dyr[j] - mdy - xhat * mdyx));
        }
      }
    }
  });
}

#define RESA_BN_INSTANTIATE(T)                                                                                    \
  template void batch_norm_train<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, double, double, T*, \
                                    T*, T*, T*, T*);                                                            \
  template void batch_norm_eval<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*, const T*,  \
                                   double, T*, T*, T*);                                                         \
  template void batch_norm_backward<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*,        \
                                       const T*, bool, T*, T*, T*);
RESA_BN_INSTANTIATE(float)
RESA_BN_INSTANTIATE(double)
#undef RESA_BN_INSTANTIATE

}  // namespace resa::cpu
