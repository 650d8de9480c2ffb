// Batch normalisation of (N, C) or (N, C, H, W) tensors per channel C: argument checks and device
// dispatch. No autograd here.
#pragma once
#include <array>

#include "resa/core/tensor.h"

namespace resa::ops {

struct BatchNormResult {
  Tensor out;     // x's shape
  Tensor mean;    // (C): the batch mean in training, a copy of running_mean in eval
  Tensor invstd;  // (C): 1 / sqrt(var + eps) of the statistics used
};

// weight, bias: (C) or undefined (affine=false). running_mean, running_var: (C), or undefined in
// training (not tracked); in training they are updated in place:
// running = (1 - momentum) * running + momentum * batch statistic, with the unbiased batch variance.
// relu: out = max(batch norm, 0), batch norm + ReLU in one op (one pass on the CPU; on CUDA the ReLU runs
// after the batch norm, in place).
BatchNormResult batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                           const Tensor& running_var, bool training, double momentum, double eps, bool relu = false);

// dy, x: x's shape, weight: (C) or undefined, mean, invstd: from batch_norm -> {dx, dweight, dbias},
// each undefined unless asked for. relu_out: for a fused batch norm + ReLU, its output; dy is taken as 0
// where relu_out is not positive (the ReLU's backward), in the same pass on the CPU.
std::array<Tensor, 3> batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                                          const Tensor& invstd, bool training, bool want_input, bool want_weight,
                                          bool want_bias, const Tensor& relu_out = Tensor());

}  // namespace resa::ops
