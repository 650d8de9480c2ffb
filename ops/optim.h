// Fused in-place parameter updates, dispatched like every other op. One pass over each parameter
// instead of the chain of tensor ops (each a full read, write and allocation) that nn's device-generic
// path runs; the arithmetic is the same, in the same order, so the two agree to rounding.
// Each returns false, having changed nothing, where no fused kernel applies (today: anything but
// contiguous CPU floating tensors of one dtype and shape); the caller then runs the tensor ops.
#pragma once
#include "resa/core/tensor.h"

namespace resa::ops {

struct SgdParams {
  double lr = 0, weight_decay = 0, momentum = 0, dampening = 0;
  bool nesterov = false;
};

// p, g, buf of one shape; buf undefined when momentum == 0. `first`: buf holds no history yet.
//   d = g + weight_decay * p
//   buf = first ? d : momentum * buf + (1 - dampening) * d        (when momentum != 0)
//   d = nesterov ? d + momentum * buf : buf                        (when momentum != 0)
//   p = p - lr * d
bool sgd_update(const Tensor& p, const Tensor& g, const Tensor& buf, const SgdParams& o, bool first);

// t = m * t + (1 - m) * s.
bool ema_update(const Tensor& t, const Tensor& s, double m);

// Whether sgd_update would run a fused kernel for p with these tensors (undefined ones ignored).
bool sgd_fusable(const Tensor& p, std::initializer_list<const Tensor*> others);

}  // namespace resa::ops
