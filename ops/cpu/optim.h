// The CPU kernels behind ops::sgd_update / ops::ema_update (ops/optim.h): one pass in T over
// contiguous memory, the arithmetic in the same order as nn's tensor-op path.
#pragma once
#include <cstdint>

#include "resa/ops/optim.h"

namespace resa::cpu {

// p: (n), g: (n), buf: (n) or null when momentum == 0.
//   d = g + weight_decay * p
//   buf = first ? d : momentum * buf + (1 - dampening) * d        (when momentum != 0)
//   d = nesterov ? d + momentum * buf : buf                        (when momentum != 0)
//   p = p - lr * d
template <typename T>
void sgd_update(int64_t n, T* p, const T* g, T* buf, const ops::SgdParams& o, bool first);

// t: (n), s: (n):  t = m * t + (1 - m) * s.
template <typename T>
void ema_update(int64_t n, T* t, const T* s, double m);

}  // namespace resa::cpu
