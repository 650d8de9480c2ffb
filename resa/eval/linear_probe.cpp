#include "resa/eval/linear_probe.h"

#include <algorithm>
#include <cmath>

#include "resa/autograd/functions.h"
#include "resa/nn/layers.h"
#include "resa/nn/optim/optimizer.h"

namespace resa {

double topk_accuracy(const Tensor& scores, const Tensor& labels, int64_t k) {
  RESA_CHECK(scores.dim() == 2 && labels.dim() == 1 && scores.size(0) == labels.size(0),
             "[topk_accuracy] scores {} and labels {} do not match", shape_str(scores.shape()),
             shape_str(labels.shape()));
  const int64_t m = scores.size(0), c = scores.size(1);
  auto s = scores.to_vector<double>();
  auto y = labels.to_vector<int64_t>();
  int64_t hits = 0;
  for (int64_t i = 0; i < m; ++i) {
    // The label is in the top k when fewer than k classes score strictly higher (ties favour it,
    // as a sorted top-k with the label placed first among equals would).
    double target = s[i * c + y[i]];
    int64_t higher = 0;
    for (int64_t j = 0; j < c; ++j) higher += s[i * c + j] > target;
    hits += higher < k;
  }
  return m > 0 ? static_cast<double>(hits) / static_cast<double>(m) : 0.0;
}

LinearProbeResult linear_probe(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x, const Tensor& test_y,
                               const LinearProbeOptions& opts, const std::function<void(int64_t, double)>& on_epoch) {
  RESA_CHECK(train_x.dim() == 2 && test_x.dim() == 2 && train_x.size(1) == test_x.size(1),
             "[linear_probe] train features {} and test features {} must be (n, d) with the same d",
             shape_str(train_x.shape()), shape_str(test_x.shape()));
  RESA_CHECK(train_y.dtype() == DType::Int64 && test_y.dtype() == DType::Int64, "[linear_probe] labels must be int64");
  RESA_CHECK(train_y.numel() == train_x.size(0) && test_y.numel() == test_x.size(0),
             "[linear_probe] {} train labels for {} rows, {} test labels for {} rows", train_y.numel(), train_x.size(0),
             test_y.numel(), test_x.size(0));
  RESA_CHECK(opts.epochs_ >= 1 && opts.batch_size_ >= 1, "[linear_probe] epochs and batch size must be positive");
  int64_t classes = opts.num_classes_;
  if (classes == 0) {
    auto ty = train_y.to_vector<int64_t>();
    classes = 1 + *std::max_element(ty.begin(), ty.end());
  }
  Generator gen(opts.seed_);
  auto clf = std::make_shared<nn::Linear>(train_x.size(1), classes, true, &gen);
  if (opts.zero_init_) {
    clf->weight().zero_();
    clf->bias().zero_();
  }
  clf->to(train_x.device());
  nn::Adam adam({nn::make_group(*clf, nn::ParamGroup().set_lr(opts.lr_start_).set_weight_decay(opts.weight_decay_))});
  // ExponentialLR stepped once per epoch: lr_e = lr_start * gamma^e, gamma^epochs = lr_end / lr_start.
  const double gamma = std::pow(opts.lr_end_ / opts.lr_start_, 1.0 / static_cast<double>(opts.epochs_));
  const int64_t n = train_x.size(0);
  Tensor x = train_x.detach(), y = train_y.detach();
  LinearProbeResult res;
  for (int64_t e = 0; e < opts.epochs_; ++e) {
    adam.set_lr(opts.lr_start_ * std::pow(gamma, static_cast<double>(e)));
    Tensor perm = randperm(n, &gen).to(x.device());
    double total = 0;
    int64_t batches = 0;
    for (int64_t b = 0; b < n; b += opts.batch_size_) {
      Tensor idx = perm.narrow(0, b, std::min(opts.batch_size_, n - b));
      adam.zero_grad();
      Tensor loss = cross_entropy(clf->forward(index_select(x, 0, idx)), index_select(y, 0, idx));
      loss.backward();
      adam.step();
      total += loss.item();
      ++batches;
    }
    res.final_train_loss = total / static_cast<double>(batches);
    if (on_epoch) on_epoch(e, res.final_train_loss);
  }
  NoGradGuard ng;
  Tensor scores = clf->forward(test_x.detach());
  res.top1 = topk_accuracy(scores, test_y, 1);
  res.top5 = topk_accuracy(scores, test_y, std::min<int64_t>(5, classes));
  res.weight = clf->weight().detach();
  res.bias = clf->bias().detach();
  return res;
}

}  // namespace resa
