// Softmax family, cross-entropy and normalisation.
#pragma once
#include "core/tensor.h"

namespace resa {

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Mean over rows of -log softmax(logits)[label]; logits (N, C), labels int64 (N).
Tensor cross_entropy(const Tensor& logits, const Tensor& labels);
// Mean over rows of -sum_c target[c] * log softmax(logits)[c]; logits and target (N, C).
Tensor cross_entropy_soft(const Tensor& logits, const Tensor& target);
// x / max(||x||_2 along dim, eps), as torch.nn.functional.normalize.
Tensor l2_normalize(const Tensor& x, int64_t dim = -1, double eps = 1e-12);
// Mean squared error over all elements.
Tensor mse_loss(const Tensor& a, const Tensor& b);

}  // namespace resa
