// Softmax family, cross-entropy and normalisation.
// softmax, log_softmax and both cross-entropies run as fused ops forward and backward (ops/softmax.h):
// the max is subtracted first, so logits of magnitude 1e4 give finite values in float32.
#pragma once
#include "resa/core/tensor.h"

namespace resa {

// Along any dim of a float32/float64 tensor of any rank.
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Mean over rows of -log softmax(logits)[label]; logits (N, C), labels int64 (N) in [0, C) (an
// out-of-range label throws, naming it and C). No gradient flows to labels.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels);
// Mean over rows of -sum_c target[c] * log softmax(logits)[c]; logits and target (N, C) of one dtype.
// Differentiable in both (d/dtarget = -log_softmax(logits) / N).
Tensor cross_entropy_soft(const Tensor& logits, const Tensor& target);
// x / max(||x||_2 along dim, eps), as torch.nn.functional.normalize; a slice whose norm is below eps
// is divided by eps and gets the gradient g / eps (finite also for an all-zero slice).
Tensor l2_normalize(const Tensor& x, int64_t dim = -1, double eps = 1e-12);
// Mean squared error over all elements; a and b must have the same shape.
Tensor mse_loss(const Tensor& a, const Tensor& b);

}  // namespace resa
