// The ReSA (self-assignment) loss on tensors: encodings give a Sinkhorn assignment A (no gradient),
// which is the soft target for the similarities of the projected embeddings across views.
//
// Follows the official ReSA CIFAR code (method/base.py, method/resa.py):
//  - encodings H and embeddings Z are the raw encoder / projector outputs; both are l2-normalised
//    here (F.normalize(h[0]) and F.normalize(projector(h)) in the official ForwardWrapper), so the
//    gradient w.r.t. Z includes the normalisation;
//  - A = sinkhorn(norm(H_0) . norm(H'_0)^T, eps, iters) from view 0 only, without gradient;
//  - each pair's term is the official `cross_entropy(s, A)` of the latest code, over rows only:
//      CE(target A, logits s),   s = Z_q . Z'_v^T / tau,
//    where CE is cross_entropy_soft (mean over rows), the same A for every pair. symmetric(true) is the
//    form of the code's first releases: ( CE(A, s) + CE(A^T, s^T) ) / 2.
#pragma once
#include <cstdint>
#include <vector>

#include "resa/core/tensor.h"

namespace resa {

struct ReSALossOptions {
  RESA_OPTION(double, tau, 0.4);        // temperature of the embedding similarities
  RESA_OPTION(double, eps, 0.05);       // Sinkhorn temperature
  RESA_OPTION(int64_t, iters, 3);       // Sinkhorn iterations
  RESA_OPTION(bool, symmetric, false);  // true: also CE(A^T, s^T) (the official code's first releases)
};

struct ReSALossResult {
  Tensor loss;        // scalar, differentiable w.r.t. the embeddings
  Tensor assignment;  // A: (m, m), detached, rows sum to 1
};

// Momentum (default) variant.
// h0: (m, d) online encodings of view 0; h0_teacher: (m, d) teacher encodings of view 0;
// z: online embeddings, one (m, e) per view (V >= 1); z_teacher: teacher embeddings, one (m, e) per
// view (the official code runs the teacher on the first two views only).
// loss = mean over pairs (q, v), q < V, v < V', q != v, of the pair term above.
ReSALossResult resa_loss(const Tensor& h0, const Tensor& h0_teacher, const std::vector<Tensor>& z,
                         const std::vector<Tensor>& z_teacher, const ReSALossOptions& opts = {});

// Momentum-free variant: A = sinkhorn(norm(H_0) . norm(H_0)^T) from the online encodings of view 0;
// loss = mean over pairs q < v of the pair term with s = Z_q . Z_v^T / tau (V >= 2).
ReSALossResult resa_loss_momentum_free(const Tensor& h0, const std::vector<Tensor>& z,
                                       const ReSALossOptions& opts = {});

// The per-pair term on already-normalised embeddings: the official `cross_entropy(s, A)`.
// logits s: (m, m), target A: (m, m).
Tensor resa_pair_loss(const Tensor& logits, const Tensor& target, bool symmetric = false);

}  // namespace resa
