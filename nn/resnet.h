// ResNet encoders with torchvision's module tree and parameter names (conv1.weight, bn1.running_mean,
// layer1.0.conv1.weight, layer2.0.downsample.0.weight, ...) so a saved encoder loads into
// torchvision.models.resnetXX with strict=True (after fc = Identity, and for the CIFAR stem conv1 =
// Conv2d(c, w, 3, 1, stem_padding, bias=False), maxpool = Identity). forward returns the pooled,
// flattened encoding (N, feature_dim); there is no fc.
//
// Initialisation is torchvision's: every conv kaiming_normal(fan_out, relu), batch norm weight 1 and
// bias 0, optionally the last BN of each residual branch at 0. The CIFAR stem conv is the exception: it
// keeps Conv2d's default init (kaiming_uniform with a = sqrt(5), i.e. U(+-1/sqrt(fan_in))), because the
// official CIFAR code replaces torchvision's conv1 by a fresh Conv2d after the model is built.
#pragma once
#include <string>

#include "resa/nn/layers.h"

namespace resa::nn {

enum class ResNetStem { Cifar, ImageNet };  // 3x3 s1 conv, no max-pool  |  7x7 s2 conv + 3x3 s2 max-pool

struct ResNetOptions {
  RESA_OPTION(std::string, arch, "resnet18");  // resnet18, resnet34, resnet50, resnet_small
  RESA_OPTION(ResNetStem, stem, ResNetStem::Cifar);
  RESA_OPTION(int64_t, in_channels, 3);
  RESA_OPTION(double, width_multiplier, 1.0);  // base width 64 * multiplier (resnet_small: 32 * multiplier)
  RESA_FLAG(zero_init_residual, false);
  // Zero padding of the CIFAR stem's 3x3 conv. 1 keeps the input's size; 2 is what the official ReSA
  // CIFAR code computes: its ResNet zero-pads the input by 1 (a ConstantPad2d before conv1) and the
  // 3x3 conv pads by 1 again, so a 32x32 image gives 34x34 maps (then 17, 9, 5).
  RESA_OPTION(int64_t, stem_padding, 1);
  RESA_OPTION(uint64_t, seed, 0);
};

// conv1-bn1-relu-conv2-bn2 (+ downsample) then relu; expansion 1.
class BasicBlock : public Cloneable<BasicBlock> {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlock(int64_t inplanes, int64_t planes, int64_t stride, bool downsample, Generator* gen);
  Tensor forward(const Tensor& x) override;

 private:
  bool has_downsample_;
};

// 1x1 conv1 - 3x3 conv2 (stride here, as torchvision v1.5) - 1x1 conv3 to planes*4; expansion 4.
class Bottleneck : public Cloneable<Bottleneck> {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(int64_t inplanes, int64_t planes, int64_t stride, bool downsample, Generator* gen);
  Tensor forward(const Tensor& x) override;

 private:
  bool has_downsample_;
};

class ResNet : public Cloneable<ResNet> {
 public:
  explicit ResNet(const ResNetOptions& opts);
  Tensor forward(const Tensor& x) override;
  int64_t feature_dim() const { return feature_dim_; }
  const ResNetOptions& options() const { return opts_; }

 protected:
  std::string extra_repr() const override;

 private:
  ResNetOptions opts_;
  int64_t feature_dim_ = 0;
};

std::shared_ptr<ResNet> make_resnet(const ResNetOptions& opts);
// The encoding size of an architecture at a width multiplier (512 for resnet18, 2048 for resnet50).
int64_t resnet_feature_dim(const std::string& arch, double width_multiplier = 1.0);

}  // namespace resa::nn
