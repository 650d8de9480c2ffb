#include "resa/ops/optim.h"

#include "resa/ops/cpu/optim.h"

namespace resa::ops {

bool sgd_fusable(const Tensor& p, std::initializer_list<const Tensor*> others) {
  if (!p.device().is_cpu() || !p.is_contiguous() || !is_floating(p.dtype())) return false;
  for (const Tensor* t : others)
    if (t->defined() &&
        (!t->device().is_cpu() || !t->is_contiguous() || t->dtype() != p.dtype() || t->shape() != p.shape()))
      return false;
  return true;
}

bool sgd_update(const Tensor& p, const Tensor& g, const Tensor& buf, const SgdParams& o, bool first) {
  if (!sgd_fusable(p, {&g, &buf})) return false;
  RESA_DISPATCH_FLOAT(p.dtype(), "sgd_update", [&] {
    cpu::sgd_update<scalar_t>(p.numel(), p.data<scalar_t>(), g.data<scalar_t>(),
                              buf.defined() ? buf.data<scalar_t>() : nullptr, o, first);
  });
  return true;
}

bool ema_update(const Tensor& t, const Tensor& s, double m) {
  if (!sgd_fusable(t, {&s})) return false;
  RESA_DISPATCH_FLOAT(t.dtype(), "ema_update",
                      [&] { cpu::ema_update<scalar_t>(t.numel(), t.data<scalar_t>(), s.data<scalar_t>(), m); });
  return true;
}

}  // namespace resa::ops
