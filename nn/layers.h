// The layers of torch.nn that the SSL stack uses, with PyTorch's parameter names, defaults and
// initialisation, so weights move both ways. Each takes an optional Generator for its initial values.
#pragma once
#include <initializer_list>

#include "resa/autograd/batchnorm_sync.h"
#include "resa/nn/module.h"

namespace resa::nn {

// y = x W^T + b; weight (out, in), bias (out).
class Linear : public Cloneable<Linear> {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  Tensor& weight() { return param("weight"); }
  Tensor& bias() { return param("bias"); }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 protected:
  std::string extra_repr() const override;

 private:
  int64_t in_, out_;
  bool has_bias_;
};

struct Conv2dLayerOptions {
  int64_t in_channels_, out_channels_, kernel_size_;
  RESA_OPTION(int64_t, stride, 1);
  RESA_OPTION(int64_t, padding, 0);
  RESA_OPTION(bool, bias, true);
  Conv2dLayerOptions(int64_t in, int64_t out, int64_t kernel)
      : in_channels_(in), out_channels_(out), kernel_size_(kernel) {}
};

// weight (out, in, k, k), bias (out) when enabled.
class Conv2d : public Cloneable<Conv2d> {
 public:
  explicit Conv2d(const Conv2dLayerOptions& opts, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  Tensor& weight() { return param("weight"); }
  const Conv2dLayerOptions& options() const { return opts_; }

 protected:
  std::string extra_repr() const override;

 private:
  Conv2dLayerOptions opts_;
};

// Batch norm over (N) of (N, C) [1d] or (N, H, W) of (N, C, H, W) [2d]. weight/bias when affine;
// running_mean, running_var (float) and num_batches_tracked (int64) buffers, updated in training.
class BatchNorm : public Cloneable<BatchNorm> {
 public:
  BatchNorm(int64_t num_features, int64_t expected_dim, bool affine = true, double momentum = 0.1, double eps = 1e-5);
  Tensor forward(const Tensor& x) override;
  // relu(forward(x)) as one fused op (autograd/conv.h, batch_norm_relu); synchronized batch norm
  // composes the two.
  Tensor forward_relu(const Tensor& x);
  int64_t num_features() const { return c_; }
  bool affine() const { return affine_; }
  double momentum() const { return momentum_; }
  double eps() const { return eps_; }
  // Synchronized batch norm (resa/dist sets it for a world > 1): in training, the statistics are those
  // of every rank's batch together; an empty function turns it off. Eval mode is unaffected.
  void set_sync(SumOverRanks sum_over_ranks) { sync_ = std::move(sum_over_ranks); }
  bool synced() const { return static_cast<bool>(sync_); }

 protected:
  std::string extra_repr() const override;

 private:
  Tensor forward_sync(const Tensor& x);
  Tensor forward_impl(const Tensor& x, bool relu);
  int64_t c_, dim_;
  bool affine_;
  double momentum_, eps_;
  SumOverRanks sync_;
};

inline std::shared_ptr<BatchNorm> BatchNorm1d(int64_t c, bool affine = true, double momentum = 0.1, double eps = 1e-5) {
  return std::make_shared<BatchNorm>(c, 2, affine, momentum, eps);
}
inline std::shared_ptr<BatchNorm> BatchNorm2d(int64_t c, bool affine = true, double momentum = 0.1, double eps = 1e-5) {
  return std::make_shared<BatchNorm>(c, 4, affine, momentum, eps);
}

class ReLU : public Cloneable<ReLU> {
 public:
  ReLU() : Cloneable("ReLU") {}
  Tensor forward(const Tensor& x) override;
};

class MaxPool2d : public Cloneable<MaxPool2d> {
 public:
  MaxPool2d(int64_t kernel, int64_t stride, int64_t padding = 0)
      : Cloneable("MaxPool2d"), k_(kernel), s_(stride), p_(padding) {}
  Tensor forward(const Tensor& x) override;

 protected:
  std::string extra_repr() const override;

 private:
  int64_t k_, s_, p_;
};

// Output size 1x1 only: (N, C, H, W) -> (N, C, 1, 1).
class AdaptiveAvgPool2d : public Cloneable<AdaptiveAvgPool2d> {
 public:
  AdaptiveAvgPool2d() : Cloneable("AdaptiveAvgPool2d") {}
  Tensor forward(const Tensor& x) override;
};

// (N, ...) -> (N, prod(...)), as torch.nn.Flatten(start_dim=1).
class Flatten : public Cloneable<Flatten> {
 public:
  Flatten() : Cloneable("Flatten") {}
  Tensor forward(const Tensor& x) override;
};

class Identity : public Cloneable<Identity> {
 public:
  Identity() : Cloneable("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// Children named "0", "1", ..., applied in order.
class Sequential : public Cloneable<Sequential> {
 public:
  Sequential() : Cloneable("Sequential") {}
  explicit Sequential(std::initializer_list<ModulePtr> mods);
  explicit Sequential(const std::vector<ModulePtr>& mods);
  void push_back(ModulePtr m);
  size_t size() const { return children().size(); }
  ModulePtr operator[](size_t i) const { return children().at(i).second; }
  Tensor forward(const Tensor& x) override;
};

}  // namespace resa::nn
