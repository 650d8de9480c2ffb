// Two-dimensional maps of a set of feature vectors, to look at how they cluster: PCA (the plane of
// largest variance) and t-SNE (van der Maaten & Hinton, 2008; exact gradients, for up to a few thousand
// points), and the trustworthiness score that says how well a map keeps each point's neighbours.
// Everything runs in float64 on the host; inputs are (N, D) tensors of any floating dtype and device.
#pragma once
#include <cstdint>
#include <vector>

#include "resa/core/tensor.h"

namespace resa {

// (N, k) coordinates of the centred rows of x on its top-k principal axes (power iteration with
// deflation on the D x D covariance; each axis's sign fixed so that its largest |loading| is positive).
Tensor pca(const Tensor& x, int64_t k = 2);

struct TsneOptions {
  RESA_OPTION(double, perplexity, 30.0);
  RESA_OPTION(int64_t, iterations, 1000);
  RESA_OPTION(int64_t, exaggeration_iterations, 250);  // with P scaled by early_exaggeration and momentum 0.5
  RESA_OPTION(double, early_exaggeration, 12.0);
  RESA_OPTION(double, learning_rate, 0.0);  // 0: max(N / early_exaggeration / 4, 50)
};

struct TsneResult {
  Tensor embedding;  // (N, 2) float64
  double kl = 0;     // KL(P || Q) of the final map
};

// The symmetric joint probabilities P (N, N) of t-SNE: per point a Gaussian over squared Euclidean
// distances whose bandwidth is found by bisection so that its perplexity is `perplexity`, then
// P = (P_cond + P_cond^T) / sum. Rows of x are points.
Tensor tsne_joint_probabilities(const Tensor& x, double perplexity);

// t-SNE to 2-D, started from the PCA map scaled to a standard deviation of 1e-4 (deterministic),
// optimised by gradient descent with momentum and per-coordinate gains.
TsneResult tsne(const Tensor& x, const TsneOptions& opts = {});

// KL(P || Q) for joint probabilities p (N, N) and a map y (N, 2), Q the Student-t similarities of y.
double tsne_kl(const Tensor& p, const Tensor& y);

// 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j among i's k nearest in y} max(0, rank of j among i's
// neighbours in x - k): 1 when every map neighbour is a true neighbour. Euclidean in both spaces.
double trustworthiness(const Tensor& x, const Tensor& y, int64_t k = 5);

}  // namespace resa
