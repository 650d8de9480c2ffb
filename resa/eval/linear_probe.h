// Linear probe on frozen features, as the official ReSA CIFAR evaluation: one Linear layer trained
// with Adam (lr 1e-2 decayed exponentially to 1e-6 over the epochs, weight decay 5e-6), mini-batches
// of 1000 from a fresh permutation each epoch, cross-entropy; top-1 and top-5 on the test features.
#pragma once
#include <cstdint>
#include <functional>

#include "resa/core/tensor.h"

namespace resa {

struct LinearProbeOptions {
  int64_t epochs_ = 500;
  double lr_start_ = 1e-2;
  double lr_end_ = 1e-6;
  double weight_decay_ = 5e-6;
  int64_t batch_size_ = 1000;
  int64_t num_classes_ = 0;  // 0: max label + 1
  uint64_t seed_ = 0;
  bool zero_init_ = false;  // start from zero weights (for reference comparisons) instead of PyTorch's init
  LinearProbeOptions& epochs(int64_t v) { return set_field(*this, epochs_, v); }
  LinearProbeOptions& lr(double start, double end) {
    lr_start_ = start;
    lr_end_ = end;
    return *this;
  }
  LinearProbeOptions& weight_decay(double v) { return set_field(*this, weight_decay_, v); }
  LinearProbeOptions& batch_size(int64_t v) { return set_field(*this, batch_size_, v); }
  LinearProbeOptions& num_classes(int64_t v) { return set_field(*this, num_classes_, v); }
  LinearProbeOptions& seed(uint64_t v) { return set_field(*this, seed_, v); }
  LinearProbeOptions& zero_init(bool v) { return set_field(*this, zero_init_, v); }
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
