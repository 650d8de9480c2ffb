// Linear probe on frozen features, as the official ReSA CIFAR evaluation: one Linear layer trained
// with Adam (lr 1e-2 decayed exponentially to 1e-6 over the epochs, weight decay 5e-6), mini-batches
// of 1000 from a fresh permutation each epoch, cross-entropy; top-1 and top-5 on the test features.
#pragma once
#include <cstdint>
#include <functional>

#include "resa/core/tensor.h"

namespace resa {

struct LinearProbeOptions {
  RESA_OPTION(int64_t, epochs, 500);
  double lr_start_ = 1e-2;
  double lr_end_ = 1e-6;
  RESA_OPTION(double, weight_decay, 5e-6);
  RESA_OPTION(int64_t, batch_size, 1000);
  RESA_OPTION(int64_t, num_classes, 0);  // 0: max label + 1
  RESA_OPTION(uint64_t, seed, 0);
  RESA_OPTION(bool, zero_init, false);  // start from zero weights (for reference comparisons) instead of PyTorch's init
  LinearProbeOptions& lr(double start, double end) {
    lr_start_ = start;
    lr_end_ = end;
    return *this;
  }
};

struct LinearProbeResult {
  double top1 = 0, top5 = 0;    // fractions of the test rows
  double final_train_loss = 0;  // mean loss of the last epoch
  Tensor weight, bias;          // the trained classifier: (C, d), (C)
};

// train_x: (n, d) float, train_y: (n) int64, test_x: (m, d), test_y: (m) int64.
// `on_epoch(epoch, mean_loss)` is called after each epoch when given.
LinearProbeResult linear_probe(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x, const Tensor& test_y,
                               const LinearProbeOptions& opts = {},
                               const std::function<void(int64_t, double)>& on_epoch = {});

// Fraction of rows whose label is among the k highest scores. scores: (m, C), labels: (m) int64.
double topk_accuracy(const Tensor& scores, const Tensor& labels, int64_t k);

}  // namespace resa
