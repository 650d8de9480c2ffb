#include "resa/nn/resnet.h"

#include <cmath>

#include "resa/autograd/elementwise.h"
#include "resa/autograd/engine.h"
#include "resa/nn/init.h"

namespace resa::nn {

namespace {

// relu(bn(x)) through the batch norm's fused op (one pass each way on the CPU instead of two).
Tensor bn_relu(const ModulePtr& bn, const Tensor& x) {
  if (auto* b = dynamic_cast<BatchNorm*>(bn.get())) return b->forward_relu(x);
  return relu(bn->forward(x));
}

struct ArchSpec {
  bool bottleneck;
  int64_t blocks[4];
  int64_t base_width;
};

ArchSpec arch_spec(const std::string& arch) {
  if (arch == "resnet18") return {false, {2, 2, 2, 2}, 64};
  if (arch == "resnet34") return {false, {3, 4, 6, 3}, 64};
  if (arch == "resnet50") return {true, {3, 4, 6, 3}, 64};
  if (arch == "resnet_small") return {false, {1, 1, 1, 1}, 32};
  RESA_FAIL("[ResNet] unknown architecture '{}' (resnet18, resnet34, resnet50, resnet_small)", arch);
}

int64_t scaled(int64_t base, double mult) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::lround(static_cast<double>(base) * mult)));
}

std::shared_ptr<Conv2d> conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, Generator* gen) {
  return std::make_shared<Conv2d>(Conv2dLayerOptions(in, out, k).stride(stride).padding(pad).bias(false), gen);
}

std::shared_ptr<Sequential> downsample_branch(int64_t in, int64_t out, int64_t stride, Generator* gen) {
  return std::make_shared<Sequential>(std::vector<ModulePtr>{conv(in, out, 1, stride, 0, gen), BatchNorm2d(out)});
}

}  // namespace

BasicBlock::BasicBlock(int64_t inplanes, int64_t planes, int64_t stride, bool downsample, Generator* gen)
    : Cloneable("BasicBlock"), has_downsample_(downsample) {
  register_module("conv1", conv(inplanes, planes, 3, stride, 1, gen));
  register_module("bn1", BatchNorm2d(planes));
  register_module("relu", std::make_shared<ReLU>());
  register_module("conv2", conv(planes, planes, 3, 1, 1, gen));
  register_module("bn2", BatchNorm2d(planes));
  if (downsample) register_module("downsample", downsample_branch(inplanes, planes, stride, gen));
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = bn_relu(child("bn1"), child("conv1")->forward(x));
  out = child("bn2")->forward(child("conv2")->forward(out));
  Tensor identity = has_downsample_ ? child("downsample")->forward(x) : x;
  return add_relu(out, identity);
}

Bottleneck::Bottleneck(int64_t inplanes, int64_t planes, int64_t stride, bool downsample, Generator* gen)
    : Cloneable("Bottleneck"), has_downsample_(downsample) {
  register_module("conv1", conv(inplanes, planes, 1, 1, 0, gen));
  register_module("bn1", BatchNorm2d(planes));
  register_module("conv2", conv(planes, planes, 3, stride, 1, gen));
  register_module("bn2", BatchNorm2d(planes));
  register_module("conv3", conv(planes, planes * kExpansion, 1, 1, 0, gen));
  register_module("bn3", BatchNorm2d(planes * kExpansion));
  register_module("relu", std::make_shared<ReLU>());
  if (downsample) register_module("downsample", downsample_branch(inplanes, planes * kExpansion, stride, gen));
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor out = bn_relu(child("bn1"), child("conv1")->forward(x));
  out = bn_relu(child("bn2"), child("conv2")->forward(out));
  out = child("bn3")->forward(child("conv3")->forward(out));
  Tensor identity = has_downsample_ ? child("downsample")->forward(x) : x;
  return add_relu(out, identity);
}

ResNet::ResNet(const ResNetOptions& opts) : Cloneable("ResNet"), opts_(opts) {
  ArchSpec spec = arch_spec(opts.arch_);
  RESA_CHECK(opts.in_channels_ > 0 && opts.width_multiplier_ > 0,
             "[ResNet] in_channels ({}) and width_multiplier ({}) must be positive", opts.in_channels_,
             opts.width_multiplier_);
  Generator gen(opts.seed_);
  int64_t width = scaled(spec.base_width, opts.width_multiplier_);
  int64_t expansion = spec.bottleneck ? Bottleneck::kExpansion : BasicBlock::kExpansion;
  RESA_CHECK(opts.stem_padding_ >= 0 && opts.stem_padding_ <= 2, "[ResNet] stem_padding must be 0, 1 or 2, got {}",
             opts.stem_padding_);
  if (opts.stem_ == ResNetStem::Cifar) {
    register_module("conv1", conv(opts.in_channels_, width, 3, 1, opts.stem_padding_, &gen));
  } else {
    register_module("conv1", conv(opts.in_channels_, width, 7, 2, 3, &gen));
  }
  register_module("bn1", BatchNorm2d(width));
  register_module("relu", std::make_shared<ReLU>());
  if (opts.stem_ == ResNetStem::Cifar)
    register_module("maxpool", std::make_shared<Identity>());
  else
    register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
  int64_t inplanes = width;
  for (int stage = 0; stage < 4; ++stage) {
    int64_t planes = width << stage;
    int64_t stride = stage == 0 ? 1 : 2;
    auto layer = std::make_shared<Sequential>();
    for (int64_t b = 0; b < spec.blocks[stage]; ++b) {
      int64_t s = b == 0 ? stride : 1;
      bool ds = b == 0 && (s != 1 || inplanes != planes * expansion);
      if (spec.bottleneck)
        layer->push_back(std::make_shared<Bottleneck>(inplanes, planes, s, ds, &gen));
      else
        layer->push_back(std::make_shared<BasicBlock>(inplanes, planes, s, ds, &gen));
      inplanes = planes * expansion;
    }
    register_module("layer" + std::to_string(stage + 1), layer);
  }
  register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>());
  feature_dim_ = inplanes;

  // torchvision's initialisation: convs kaiming_normal(fan_out, relu), BN weight 1 and bias 0 (already),
  // and optionally the last BN of each residual branch at 0 so each block starts as the identity. The
  // CIFAR stem conv keeps the default init it was built with (see resnet.h).
  const ModulePtr stem = child("conv1");
  for (auto& [path, m] : named_modules()) {
    auto c = std::dynamic_pointer_cast<Conv2d>(m);
    if (c && !(opts.stem_ == ResNetStem::Cifar && m == stem)) init::kaiming_normal_(c->weight(), 0.0, false, &gen);
    if (!opts.zero_init_residual_) continue;
    const char* last_bn = spec.bottleneck ? "bn3" : "bn2";
    if (dynamic_cast<BasicBlock*>(m.get()) || dynamic_cast<Bottleneck*>(m.get()))
      m->child(last_bn)->param("weight").zero_();
  }
}

Tensor ResNet::forward(const Tensor& x) {
  RESA_CHECK(x.dim() == 4 && x.size(1) == opts_.in_channels_, "[ResNet] expects (N, {}, H, W) input, got {}",
             opts_.in_channels_, shape_str(x.shape()));
  Tensor h = bn_relu(child("bn1"), child("conv1")->forward(x));
  h = child("maxpool")->forward(h);
  for (const char* l : {"layer1", "layer2", "layer3", "layer4"}) h = child(l)->forward(h);
  return child("avgpool")->forward(h).flatten(1);
}

std::string ResNet::extra_repr() const {
  return fmt::format("{}, stem={}, in_channels={}, width_multiplier={}, zero_init_residual={}", opts_.arch_,
                     opts_.stem_ == ResNetStem::Cifar ? fmt::format("cifar(padding {})", opts_.stem_padding_)
                                                      : std::string("imagenet"),
                     opts_.in_channels_, opts_.width_multiplier_, opts_.zero_init_residual_);
}

std::shared_ptr<ResNet> make_resnet(const ResNetOptions& opts) { return std::make_shared<ResNet>(opts); }

int64_t resnet_feature_dim(const std::string& arch, double width_multiplier) {
  ArchSpec spec = arch_spec(arch);
  return (scaled(spec.base_width, width_multiplier) << 3) * (spec.bottleneck ? 4 : 1);
}

}  // namespace resa::nn
