#include "resa/ops/cpu/optim.h"

#include "resa/core/parallel.h"
#include "resa/ops/cpu/isa.h"

namespace resa::cpu {
namespace {
constexpr int64_t kGrain = int64_t{1} << 15;
}

template <typename T>
void sgd_update(int64_t n, T* p, const T* g, T* buf, const ops::SgdParams& o, bool first) {
  const auto& k = isa_kernels<T>();
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { k.sgd(b, e, p, g, buf, o, first); });
}

template <typename T>
void ema_update(int64_t n, T* t, const T* s, double m) {
  const auto& k = isa_kernels<T>();
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { k.ema(lo, hi, t, s, m); });
}

template void sgd_update<float>(int64_t, float*, const float*, float*, const ops::SgdParams&, bool);
template void sgd_update<double>(int64_t, double*, const double*, double*, const ops::SgdParams&, bool);
template void ema_update<float>(int64_t, float*, const float*, double);
template void ema_update<double>(int64_t, double*, const double*, double);

}  // namespace resa::cpu
