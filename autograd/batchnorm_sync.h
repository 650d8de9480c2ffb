// Synchronized batch norm in training: the batch statistics (and, in backward, the two per-channel
// gradient means) are summed over every rank's batch, so N ranks with batch B normalise exactly as
// one process with batch N * B. The summation is a callback, so this layer knows nothing of MPI:
// resa/dist supplies one that all-reduces over the communicator.
#pragma once
#include <functional>

#include "resa/core/tensor.h"

namespace resa {

// Sums a contiguous float64 CPU tensor over the ranks, in place. Every rank calls it in the same order.
using SumOverRanks = std::function<void(Tensor&)>;

// x: (N, C) or (N, C, H, W); weight, bias: (C) or undefined; running_mean, running_var: (C) buffers
// updated in place with the global statistics (unbiased variance over the global count), or undefined.
// Gradients: x (through the global statistics), and this rank's share of dweight, dbias.
Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, double momentum, double eps, const SumOverRanks& sum_over_ranks);

}  // namespace resa
