// Sinkhorn-Knopp normalisation of a score matrix into a balanced soft assignment, as ReSA (and SwAV)
// use it: the target of the self-assignment loss. Runs without gradient.
#pragma once
#include <cstdint>

#include "resa/core/tensor.h"

namespace resa {

struct SinkhornOptions {
  RESA_OPTION(double, eps, 0.05);  // temperature of exp(S / eps)
  RESA_OPTION(int64_t, iters, 3);  // rounds of (column, row) normalisation
};

// scores: (m, k) -> A: (m, k), detached (no gradient flows through it whatever the input).
//
// The order follows the official ReSA code (methods/base.py, `sinkhorn`), which works on Q = exp(S/eps)^T
// and, per iteration, first makes Q's rows sum to 1/m, then Q's columns sum to 1/m, and returns
// (Q / Q.sum(dim=0)).T. In the orientation of S (SwAV's convention for a non-square (m, k) S):
//   Q = exp(S / eps), normalised to total 1;
//   repeat `iters` times:  columns sum to 1/k;  then rows sum to 1/m;
//   finally each row divided by its sum, so every row of A sums to 1 (the same as multiplying by m
//   after the last row step, and also defined for iters = 0).
// So rows sum to 1 exactly (up to rounding); columns sum to m/k only approximately, tending to it as
// iters grows (the last step is a row step). For square S, A is then close to doubly stochastic.
//
// Computed in log space (each normalisation subtracts a logsumexp), so it never overflows or divides
// by zero: finite for any finite S and eps > 0 (entries far below a row's maximum underflow to 0).
Tensor sinkhorn(const Tensor& scores, const SinkhornOptions& opts = {});

}  // namespace resa
