// Data-parallel training on top of a Communicator: each rank runs the same model on its shard of the
// global batch, and these helpers make the step equal to one process's step on the whole batch:
//  - all_gather: the global batch of a tensor, differentiable (backward: the gradient summed over the
//    ranks, then this rank's slice), so a loss over the whole batch (ReSA's Sinkhorn) runs on every rank;
//  - enable_sync_batch_norm: batch norm with the statistics of the global batch;
//  - average_gradients: after backward, the gradients averaged over the ranks in a few big buffers;
//  - broadcast_state: rank 0's parameters and buffers everywhere (one starting point).
// With every rank computing the same global loss L, the gradient that reaches a parameter on a rank is
// world x (its share of dL/dparam); the average over ranks is then exactly dL/dparam.
#pragma once
#include <cstddef>

#include "resa/dist/communicator.h"
#include "resa/nn/module.h"

namespace resa::dist {

// x: (n, ...) on this rank -> (world * n, ...), rank r's rows at [r * n, (r + 1) * n). World 1: x itself.
Tensor all_gather(const Tensor& x, const CommPtr& comm);

// Turns synchronized batch norm on (world > 1) or off (world 1) in every BatchNorm of m.
// Returns how many layers it set.
int64_t enable_sync_batch_norm(nn::Module& m, const CommPtr& comm);

// Averages the gradients of `params` over the ranks: grads flattened into buckets of at most
// bucket_bytes (per dtype and device), one all-reduce each, divided by the world size, and each
// parameter's grad set to its slice. A parameter without a gradient contributes zeros and keeps none.
// Every rank must pass the same parameters in the same order. Returns the bytes all-reduced.
size_t average_gradients(const std::vector<Tensor>& params, Communicator& comm, size_t bucket_bytes = size_t{25} << 20);

// Rank 0's parameters and buffers copied to every rank.
void broadcast_state(nn::Module& m, Communicator& comm);

}  // namespace resa::dist
