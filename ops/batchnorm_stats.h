// The pieces of synchronized batch norm (statistics over the batches of every rank): per-channel sums
// of this rank's batch, the normalisation with statistics given from outside (the global ones), and
// the two halves of its backward. Argument checks and device dispatch; no autograd, no communication
// (autograd/batchnorm_sync.cpp puts them together with a reduction over the ranks).
// x: (N, C) or (N, C, H, W), float32 or float64. Statistics are float64 (C) on the CPU.
#pragma once
#include <array>

#include "resa/core/tensor.h"

namespace resa::ops {

// -> {sum, sumsq}: (C) float64 of x over every dimension but 1.
std::array<Tensor, 2> batch_norm_stats(const Tensor& x);

// y = (x - mean) * invstd * weight + bias; weight, bias: (C) of x's dtype, or undefined.
Tensor batch_norm_elemt(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                        const Tensor& bias);

// -> {sum_dy, sum_dy_xhat}: (C) float64, xhat = (x - mean) * invstd. These are also dbias, dweight.
std::array<Tensor, 2> batch_norm_backward_reduce(const Tensor& dy, const Tensor& x, const Tensor& mean,
                                                 const Tensor& invstd);

// dx = weight * invstd * (dy - mean_dy - xhat * mean_dy_xhat), with the means over the global batch.
Tensor batch_norm_backward_elemt(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                                 const Tensor& weight, const Tensor& mean_dy, const Tensor& mean_dy_xhat);

}  // namespace resa::ops
