// Fused in-place parameter updates on the CPU: one pass over each contiguous parameter instead of the
// chain of tensor ops (each a full read, write and allocation) that the device-generic path runs.
// The arithmetic is the same, in the same order, in T, as the tensor-op path (nn/optim/optimizer.cpp),
// so the two agree to rounding.
#pragma once
#include <cstdint>

namespace resa::cpu {

struct SgdParams {
  double lr = 0, weight_decay = 0, momentum = 0, dampening = 0;
  bool nesterov = false;
};

// p: (n), g: (n), buf: (n) or null when momentum == 0.
//   d = g + weight_decay * p
//   buf = first ? d : momentum * buf + (1 - dampening) * d        (when momentum != 0)
//   d = nesterov ? d + momentum * buf : buf                        (when momentum != 0)
//   p = p - lr * d
template <typename T>
void sgd_update(int64_t n, T* p, const T* g, T* buf, const SgdParams& o, bool first);

// t: (n), s: (n):  t = m * t + (1 - m) * s.
template <typename T>
void ema_update(int64_t n, T* t, const T* s, double m);

}  // namespace resa::cpu
