// k-nearest-neighbour classifiers on frozen features, the two usual SSL protocols:
//  - knn_classify: k = 5, Euclidean distance, majority vote (the official ReSA evaluation, eval_knn);
//  - weighted_knn_classify: cosine similarity, k = 200, each neighbour votes exp(sim / T) for its class,
//    T = 0.1 (the InstDisc / DINO protocol), top-1 and top-5.
// Distances come from one matmul per block of test rows, so 10k x 60k never needs the full matrix.
#pragma once
#include <cstdint>

#include "resa/core/tensor.h"

namespace resa {

// How a majority vote with several most-frequent labels is decided.
enum class KnnTieBreak {
  SmallestLabel,    // the smallest label value among the tied: the official code (unique() sorts,
                    // argmax takes the first) and scikit-learn's KNeighborsClassifier do this
  NearestNeighbor,  // the tied label held by the nearest of the k neighbours
};

struct KnnOptions {
  RESA_OPTION(int64_t, k, 5);
  RESA_OPTION(int64_t, block_rows, 256);  // test rows per distance block: block_rows x n_train scores in memory
  RESA_OPTION(KnnTieBreak, tie_break, KnnTieBreak::SmallestLabel);
};

struct KnnResult {
  Tensor predictions;  // int64 (n_test)
  double top1 = 0.0;   // fraction of test rows predicted right (0 when no test labels were given)
};

// train_x: (n, d), train_y: int64 (n), test_x: (t, d), test_y: int64 (t) or undefined -> predictions.
// Neighbours are the k smallest Euclidean distances (equal distances: the lower train index first).
KnnResult knn_classify(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x, const Tensor& test_y = {},
                       const KnnOptions& opts = {});

struct WeightedKnnOptions {
  RESA_OPTION(int64_t, k, 200);
  RESA_OPTION(double, temperature, 0.1);
  RESA_OPTION(int64_t, num_classes, 0);  // 0: max label + 1 over train and test labels
  RESA_OPTION(int64_t, block_rows, 256);
};

struct WeightedKnnResult {
  Tensor predictions;  // int64 (n_test, min(5, C)): classes by decreasing vote (equal votes: smaller class first)
  double top1 = 0.0;
  double top5 = 0.0;  // true class among the first min(5, C)
};

// Features are l2-normalised here; neighbours are the k largest cosine similarities. Labels in [0, C).
WeightedKnnResult weighted_knn_classify(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x,
                                        const Tensor& test_y = {}, const WeightedKnnOptions& opts = {});

}  // namespace resa
