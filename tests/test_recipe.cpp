// The training recipe's defaults, pinned one by one against the official ReSA CIFAR code (the audit
// in docs/recipe.md names the official file for each). A refactor that flips one of them fails here,
// even though every op and every single step would still match PyTorch.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "resa/autograd/conv.h"
#include "resa/methods/resa.h"
#include "resa/nn/io/safetensors.h"
#include "resa/nn/layers.h"
#include "resa/nn/resnet.h"
#include "resa/train/trainer.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;
namespace fs = std::filesystem;

namespace {
// The networks build_method makes for a config with the given architecture (grayscale input).
std::shared_ptr<Method> method_for(const std::string& arch, const std::string& zero_init = "auto") {
  train::TrainConfig cfg;
  cfg.arch = arch;
  cfg.mlp = "64-64-32";
  cfg.width = arch == "resnet_small" ? 8 : 16;
  cfg.zero_init_residual = zero_init;
  return train::build_method(cfg, 1);
}

// Every weight of a residual branch's last batch norm (bn2 of a BasicBlock, bn3 of a Bottleneck).
std::vector<float> last_bn_weights(Method& m, const char* last_bn) {
  std::vector<float> out;
  for (auto& [name, t] : m.eval_encoder()->state_dict())
    if (name.find(std::string(".") + last_bn + ".weight") != std::string::npos)
      for (float v : t.to_vector<float>()) out.push_back(v);
  return out;
}

bool all_equal(const std::vector<float>& v, float x) {
  return !v.empty() && std::all_of(v.begin(), v.end(), [&](float e) { return e == x; });
}
}  // namespace

TEST_CASE("recipe: zero-init of the residual branches follows the official rule (arch != resnet18)") {
  // src/model.py get_encoder: zero_init_residual = (arch != 'resnet18'); resnet_small is our
  // BasicBlock network of the resnet18 family.
  CHECK(all_equal(last_bn_weights(*method_for("resnet18"), "bn2"), 1.0f));
  CHECK(all_equal(last_bn_weights(*method_for("resnet_small"), "bn2"), 1.0f));
  CHECK(all_equal(last_bn_weights(*method_for("resnet34"), "bn2"), 0.0f));
  CHECK(all_equal(last_bn_weights(*method_for("resnet50"), "bn3"), 0.0f));
  // and the override both ways
  CHECK(all_equal(last_bn_weights(*method_for("resnet_small", "on"), "bn2"), 0.0f));
  CHECK(all_equal(last_bn_weights(*method_for("resnet50", "off"), "bn3"), 1.0f));
  RESA_CHECK_THROWS_WITH_SUBSTR(method_for("resnet18", "maybe"), "--zero-init-residual must be on, off or auto");
}

TEST_CASE("recipe: the CIFAR stem conv keeps Conv2d's default init, the other convs torchvision's") {
  // The official get_encoder replaces conv1 by a fresh nn.Conv2d after the ResNet's init loop, so it has
  // PyTorch's default: kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  auto m = method_for("resnet18");  // width 16: conv1 (16, 1, 3, 3), fan_in 9
  auto sd = m->eval_encoder()->state_dict();
  Tensor stem = sd.at("conv1.weight");
  const double bound = 1.0 / std::sqrt(9.0);
  CHECK(max(abs(stem)).item() <= bound);
  // 144 uniform draws: variance bound^2 / 3 (relative standard error of the estimate ~7.5%)
  CHECK(mean(pow(stem, 2.0)).item() == doctest::Approx(bound * bound / 3.0).epsilon(0.3));
  // A kaiming_normal(fan_out) stem would have variance 2 / (16 * 9) = 0.0139, not 0.037.
  CHECK(mean(pow(stem, 2.0)).item() > 0.02);
  // Every other conv: kaiming_normal(fan_out, relu), e.g. layer3.0.conv2 (64, 64, 3, 3): 2 / (64 * 9).
  Tensor w = sd.at("layer3.0.conv2.weight");
  CHECK(mean(pow(w, 2.0)).item() == doctest::Approx(2.0 / (64 * 9)).epsilon(0.1));
}

TEST_CASE("recipe: the CIFAR stem pads by 2, as the official input pad of 1 before the padded 3x3 conv") {
  // src/resnet.py: forward applies ConstantPad2d(1) before conv1, which get_encoder made a 3x3 conv with
  // padding 1. Zero padding twice is one zero padding of 2: check both the default and the equivalence.
  auto m = method_for("resnet_small");
  auto stem = std::dynamic_pointer_cast<nn::Conv2d>(m->eval_encoder()->child("conv1"));
  REQUIRE(stem);
  Tensor x = randn({2, 1, 28, 28});
  Tensor y = stem->forward(x);
  CHECK(y.shape() == Shape{2, 8, 30, 30});
  // Reference: pad the input by one zero border by hand, then the 3x3 conv with padding 1.
  Tensor xp = zeros({2, 1, 30, 30});
  {
    float* dst = xp.data<float>();
    const float* src = x.data<float>();
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t i = 0; i < 28; ++i)
        for (int64_t j = 0; j < 28; ++j) dst[(n * 30 + i + 1) * 30 + j + 1] = src[(n * 28 + i) * 28 + j];
  }
  Tensor ref = conv2d(xp, stem->param("weight"), Tensor(), Conv2dOptions().stride(1).padding(1));
  CHECK(max_abs_error(y, ref) < 1e-6);
  train::TrainConfig cfg;
  CHECK(cfg.stem_padding == 2);
}

TEST_CASE("recipe: batch norm eps 1e-5 and momentum 0.1 everywhere; the projector ends affine-free") {
  auto m = method_for("resnet_small");
  int checked = 0;
  for (auto& [prefix, mod] : m->modules())
    for (auto& [path, sub] : mod->named_modules())
      if (auto bn = std::dynamic_pointer_cast<nn::BatchNorm>(sub)) {
        CAPTURE(prefix + "." + path);
        CHECK(bn->eps() == 1e-5);
        CHECK(bn->momentum() == 0.1);
        ++checked;
      }
  CHECK(checked > 20);  // encoder, projector, and the teacher's copies
  auto proj = m->eval_projector()->children();
  auto last = std::dynamic_pointer_cast<nn::BatchNorm>(proj.back().second);
  REQUIRE(last);
  CHECK_FALSE(last->affine());
}

TEST_CASE("recipe: the loss is the row-only cross-entropy; the teacher is what is evaluated") {
  auto m = method_for("resnet_small");
  auto* r = dynamic_cast<ReSA*>(m.get());
  REQUIRE(r);
  CHECK_FALSE(r->options().loss_.symmetric_);  // method/base.py cross_entropy: rows only
  CHECK(r->options().ema_base_ == 0.996);
  CHECK(r->options().loss_.tau_ == 0.4);
  CHECK(r->options().loss_.eps_ == 0.05);
  CHECK(r->options().loss_.iters_ == 3);
  // eval/evaluate.py get_acc evaluates momentum_encoder when there is one.
  CHECK(m->eval_encoder() != m->online_encoder());
  CHECK(m->eval_encoder() == m->modules()[2].second);  // teacher_encoder
  train::TrainConfig cfg;
  cfg.loss_sides = 2;
  cfg.mlp = "64-64-32";
  cfg.arch = "resnet_small";
  auto* r2 = dynamic_cast<ReSA*>(train::build_method(cfg, 1).get());
  REQUIRE(r2);
  CHECK(r2->options().loss_.symmetric_);
}

TEST_CASE("recipe: a short run's schedules, weight decay and teacher batch norm are the official ones") {
  const std::string data = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(data + "/train-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
    return;
  }
  train::TrainConfig cfg;
  cfg.dataset = "fashion-mnist";
  cfg.arch = "resnet_small";
  cfg.width = 4;
  cfg.mlp = "32-32-16";
  cfg.train_subset = 256;
  cfg.eval_subset = 100;
  cfg.batch_size = 64;  // 4 steps per epoch
  cfg.epochs = 2;
  cfg.warmup_epochs = 1;
  cfg.workers = 1;
  cfg.eval_every = 0;
  cfg.out = std::string(RESA_TEST_TMP) + "/recipe_run";
  fs::remove_all(cfg.out);
  train::Trainer trainer(cfg, false);
  // main.py: SGD(model.parameters(), momentum 0.9, weight_decay 1e-4) on every online parameter,
  // batch-norm weights and biases included.
  size_t online_params = 0;
  for (auto& m : trainer.method().trainable()) online_params += m->parameters().size();
  size_t grouped = 0;
  for (auto& g : trainer.optimizer().param_groups()) {
    CHECK(g.weight_decay == 1e-4);
    CHECK(g.momentum == 0.9);
    CHECK_FALSE(g.nesterov);
    grouped += g.params.size();
  }
  CHECK(grouped == online_params);
  REQUIRE(trainer.run());

  std::vector<nlohmann::json> steps;
  std::ifstream log(cfg.out + "/log.jsonl");
  for (std::string line; std::getline(log, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == "step") steps.push_back(j);
  }
  REQUIRE(steps.size() == 8);
  // src/utils.py cosine_scheduler: linspace(0, base, 4) over the warm-up (step 0 at 0, step 3 at base),
  // then cosine from base to 0.1 x base over the 4 remaining steps: base * (0.1 + 0.9 * (1 + cos(pi k / 4)) / 2).
  const double base = 0.3 * 64 / 256;
  const double expect[8] = {0.0,          base / 3,
                            2 * base / 3, base,
                            base,         base * (0.1 + 0.45 * (1 + std::sqrt(0.5))),
                            base * 0.55,  base * (0.1 + 0.45 * (1 - std::sqrt(0.5)))};
  for (int i = 0; i < 8; ++i) {
    CAPTURE(i);
    CHECK(steps[i]["lr"].get<double>() == doctest::Approx(expect[i]).epsilon(1e-12));
  }
  // The EMA momentum of step s is cosine(0.996 -> 1) at s of the 8 steps.
  CHECK(steps[0]["ema_momentum"].get<double>() == doctest::Approx(0.996).epsilon(1e-15));
  CHECK(steps[4]["ema_momentum"].get<double>() == doctest::Approx(0.998).epsilon(1e-15));
  // The teacher runs in training mode (batch statistics, its own running statistics): two forward
  // passes per step, counted by its batch norms.
  auto tsd = trainer.method().eval_encoder()->state_dict();
  CHECK(tsd.at("bn1.num_batches_tracked").to_vector<int64_t>()[0] == 16);
  // The teacher's parameters are an EMA, not a copy, of the online ones.
  auto osd = trainer.method().online_encoder()->state_dict();
  CHECK(max_abs_error(tsd.at("layer1.0.conv1.weight"), osd.at("layer1.0.conv1.weight")) > 0);
  // Both encoders are saved, each with what it takes to rebuild it (resa_eval reads the stem padding).
  auto teacher_file = nn::load_safetensors(cfg.out + "/encoder.safetensors");
  auto online_file = nn::load_safetensors(cfg.out + "/encoder_online.safetensors");
  CHECK(teacher_file.metadata.at("role") == "teacher");
  CHECK(online_file.metadata.at("role") == "online");
  CHECK(teacher_file.metadata.at("stem_padding") == "2");
  CHECK(teacher_file.metadata.at("arch") == "resnet_small");
  CHECK(max_abs_error(online_file.tensors.at("layer1.0.conv1.weight"), osd.at("layer1.0.conv1.weight")) == 0);
  CHECK(max_abs_error(teacher_file.tensors.at("layer1.0.conv1.weight"), tsd.at("layer1.0.conv1.weight")) == 0);
  // The log's evaluation holds both kNN scores.
  std::ifstream log2(cfg.out + "/log.jsonl");
  bool eval_seen = false;
  for (std::string line; std::getline(log2, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == "eval") eval_seen = j.contains("knn_top1") && j.contains("knn_online_top1");
  }
  CHECK(eval_seen);
}
