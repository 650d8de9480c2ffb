#include "resa/ops/cpu/optim.h"

#include "resa/core/parallel.h"

namespace resa::cpu {
namespace {
constexpr int64_t kGrain = int64_t{1} << 15;
}

template <typename T>
void sgd_update(int64_t n, T* p, const T* g, T* buf, const ops::SgdParams& o, bool first) {
  const T wd = static_cast<T>(o.weight_decay), mom = static_cast<T>(o.momentum),
          damp = static_cast<T>(1.0 - o.dampening), lr = static_cast<T>(o.lr);
  const bool use_wd = o.weight_decay != 0, use_mom = o.momentum != 0 && buf != nullptr;
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T d = use_wd ? g[i] + p[i] * wd : g[i];
      if (use_mom) {
        const T nb = first ? d : buf[i] * mom + d * damp;
        buf[i] = nb;
        d = o.nesterov ? d + nb * mom : nb;
      }
      p[i] = p[i] - d * lr;
    }
  });
}

template <typename T>
void ema_update(int64_t n, T* t, const T* s, double m) {
  const T a = static_cast<T>(m), b = static_cast<T>(1.0 - m);
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) t[i] = t[i] * a + s[i] * b;
  });
}

template void sgd_update<float>(int64_t, float*, const float*, float*, const ops::SgdParams&, bool);
template void sgd_update<double>(int64_t, double*, const double*, double*, const ops::SgdParams&, bool);
template void ema_update<float>(int64_t, float*, const float*, double);
template void ema_update<double>(int64_t, double*, const double*, double);

}  // namespace resa::cpu
