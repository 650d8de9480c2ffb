// Softmax family and softmax cross-entropy as fused ops: shape rules and device dispatch, no autograd.
// The backward formulas are ops of their own because they run on every training step; the composed
// versions (exp, sum, max, ...) stay as the reference in the tests.
#pragma once
#include <utility>

#include "resa/core/tensor.h"

namespace resa::ops {

// y = exp(x - max) / sum exp(x - max) along `dim` (any dim, any rank; float32 or float64).
Tensor softmax(const Tensor& x, int64_t dim);
// y = x - max - log sum exp(x - max) along `dim`.
Tensor log_softmax(const Tensor& x, int64_t dim);
// dx = y * (g - sum_dim(g * y)), from y = softmax(x) and the output gradient g (same shape as y).
Tensor softmax_backward(const Tensor& grad, const Tensor& y, int64_t dim);
// dx = g - exp(y) * sum_dim(g), from y = log_softmax(x).
Tensor log_softmax_backward(const Tensor& grad, const Tensor& y, int64_t dim);

// Hard-label cross-entropy, logits (N, C), labels int64 (N) with values in [0, C):
// returns (loss = mean_i (lse_i - logits[i, label_i]) as a 0-dim tensor, lse (N) = log sum_c exp logits[i, c]).
// The lse is saved for the backward so that it need not reduce again.
std::pair<Tensor, Tensor> cross_entropy(const Tensor& logits, const Tensor& labels);
// dlogits = g / N * (softmax(logits) - onehot(labels)); g is the loss's 0-dim gradient.
Tensor cross_entropy_backward(const Tensor& grad, const Tensor& logits, const Tensor& labels, const Tensor& lse);

// Soft-target cross-entropy, logits and target (N, C):
// returns (loss = mean_i sum_c target[i, c] * (lse_i - logits[i, c]), lse (N)).
std::pair<Tensor, Tensor> cross_entropy_soft(const Tensor& logits, const Tensor& target);
// (dlogits = g / N * (softmax * rowsum(target) - target), dtarget = -g / N * log_softmax(logits));
// each is computed only when asked for (undefined otherwise).
std::pair<Tensor, Tensor> cross_entropy_soft_backward(const Tensor& grad, const Tensor& logits, const Tensor& target,
                                                      const Tensor& lse, bool need_logits, bool need_target);

}  // namespace resa::ops
