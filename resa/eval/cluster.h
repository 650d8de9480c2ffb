// Clustering metrics for the analysis of learned features: silhouette coefficients of given labels,
// k-means (k-means++ init, restarts), and the adjusted Rand index. The O(n^2) distance work runs in
// blocks of rows (one matmul each), so 10,000 samples x 512 dims need only block_rows x n distances.
#pragma once
#include <cstdint>

#include "resa/core/tensor.h"

namespace resa {

enum class DistanceMetric {
  Euclidean,  // |x - y|
  Cosine,     // 1 - cos(x, y), clipped to [0, 2] (scikit-learn's cosine_distances; a zero row has cos 0)
};

struct SilhouetteResult {
  Tensor samples;     // float64 (n): s_i = (b_i - a_i) / max(a_i, b_i); 0 for a sample alone in its cluster
  double mean = 0.0;  // the silhouette score
  double std = 0.0;   // population standard deviation over samples (numpy's default)
};

// x: (n, d) float, labels: int64 (n), any values, 2 <= number of distinct labels <= n - 1.
// a_i is the mean distance to the other members of i's cluster, b_i the smallest mean distance to
// another cluster's members, as scikit-learn's silhouette_samples.
SilhouetteResult silhouette(const Tensor& x, const Tensor& labels, DistanceMetric metric = DistanceMetric::Euclidean,
                            int64_t block_rows = 1024);

struct KMeansOptions {
  RESA_OPTION(int64_t, k, 8);
  RESA_OPTION(int64_t, n_init, 10);     // restarts from independent k-means++ seeds; the lowest inertia wins
  RESA_OPTION(int64_t, max_iter, 300);  // Lloyd iterations per restart
  RESA_OPTION(double, tol, 1e-4);       // stop when the summed squared centre shift <= tol x mean per-feature variance
  RESA_OPTION(uint64_t, seed, 0);
  RESA_OPTION(int64_t, block_rows, 1024);
};

struct KMeansResult {
  Tensor labels;       // int64 (n): the nearest centre of each sample (equal distances: lower index)
  Tensor centers;      // float64 (k, d)
  double inertia = 0;  // sum of squared distances to the nearest centre
  int64_t n_iter = 0;  // Lloyd iterations of the winning restart
};

// Lloyd's algorithm in float64 on the host (x is copied there), seeded by greedy k-means++ (each new
// centre is the best of 2 + floor(ln k) D^2-sampled candidates, as scikit-learn). An empty cluster
// is moved to the sample farthest from its centre. Deterministic for a seed.
KMeansResult kmeans(const Tensor& x, const KMeansOptions& opts = {});

// Adjusted Rand index of two labelings (int64 (n), any values): 1 for identical partitions up to
// renaming, about 0 for independent ones. Same formula and special cases as scikit-learn.
double adjusted_rand_index(const Tensor& labels_a, const Tensor& labels_b);

}  // namespace resa
