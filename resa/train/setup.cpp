#include "resa/train/setup.h"

#include <algorithm>
#include <filesystem>

#include "resa/methods/factory.h"
#include "resa/nn/mlp.h"
#include "resa/nn/resnet.h"

namespace resa::train {
namespace fs = std::filesystem;

// ---------------------------------------------------------------- data
RunData open_data(const TrainConfig& cfg) {
  RunData rd;
  data::DatasetOptions train_opts;
  if (cfg.train_subset > 0) train_opts.subset_random(cfg.train_subset, cfg.seed);
  data::DatasetOptions eval_opts;
  if (cfg.eval_subset > 0) eval_opts.subset(cfg.eval_subset);
  std::string dir = cfg.data;
  if (cfg.dataset == "fashion-mnist" || cfg.dataset == "mnist") {
    if (dir.empty()) dir = "/usr/share/datasets/fashion-mnist";
    rd.train = data::load_mnist_dir(dir, true, train_opts);
    rd.eval.train = data::load_mnist_dir(dir, true, eval_opts);
    rd.eval.test = data::load_mnist_dir(dir, false, eval_opts);
    // Fashion-MNIST pixel statistics (of pixels / 255); MNIST's are close enough to serve.
    rd.eval.mean = {0.2860f};
    rd.eval.std = {0.3530f};
  } else if (cfg.dataset == "cifar10" || cfg.dataset == "cifar100") {
    RESA_CHECK(!dir.empty(), "[train] --data must name the CIFAR folder for dataset {}", cfg.dataset);
    bool c10 = cfg.dataset == "cifar10";
    auto load = [&](bool train, const data::DatasetOptions& o) {
      return c10 ? data::load_cifar10(dir, train, o) : data::load_cifar100(dir, train, false, o);
    };
    rd.train = load(true, train_opts);
    rd.eval.train = load(true, eval_opts);
    rd.eval.test = load(false, eval_opts);
    rd.eval.mean = c10 ? data::kCifar10Mean : data::kCifar100Mean;
    rd.eval.std = c10 ? data::kCifar10Std : data::kCifar100Std;
  } else if (cfg.dataset == "folder") {
    RESA_CHECK(!dir.empty() && fs::is_directory(dir + "/train") && fs::is_directory(dir + "/test"),
               "[train] --data {} must hold train/ and test/ folders with one subfolder per class", dir);
    auto fo = data::FolderOptions().channels(3);
    rd.train = data::load_image_folder(dir + "/train", fo, train_opts);
    rd.eval.train = data::load_image_folder(dir + "/train", fo, eval_opts);
    rd.eval.test = data::load_image_folder(dir + "/test", fo, eval_opts);
    rd.eval.mean = {0.485f, 0.456f, 0.406f};
    rd.eval.std = {0.229f, 0.224f, 0.225f};
  } else {
    RESA_FAIL("[train] unknown dataset '{}' (cifar10, cifar100, fashion-mnist, mnist or folder)", cfg.dataset);
  }
  rd.channels = rd.train->channels();
  int64_t native = rd.train->height() > 0 ? rd.train->height() : 32;
  rd.eval.image_size = cfg.image_size > 0 ? cfg.image_size : native;
  return rd;
}

void validate_data(const TrainConfig& cfg, const RunData& rd) {
  // The subsets clamp to their datasets (a subset shorter than asked for is a clamped one): a larger
  // number is a mistake, which would train and evaluate on fewer images than asked for.
  if (cfg.train_subset > 0) {
    RESA_CHECK(rd.train->size() == cfg.train_subset,
               "--train-subset {}: must be at most the {} training images of {} (0: all)", cfg.train_subset,
               rd.train->size(), cfg.dataset);
  }
  if (cfg.eval_subset > 0) {
    const int64_t n = std::min(rd.eval.train->size(), rd.eval.test->size());
    RESA_CHECK(n == cfg.eval_subset, "--eval-subset {}: must be at most {}, the size of {}'s smaller split (0: all)",
               cfg.eval_subset, n, cfg.dataset);
  }
  RESA_CHECK(rd.train->size() >= cfg.batch_size,
             "--batch-size {}: must be at most the {} training images (--train-subset {}: 0 is all)", cfg.batch_size,
             rd.train->size(), cfg.train_subset);
}

// ---------------------------------------------------------------- model
std::shared_ptr<Method> build_method(const TrainConfig& cfg, int64_t in_channels) {
  double base_width = cfg.arch == "resnet_small" ? 32.0 : 64.0;
  auto ropts = nn::ResNetOptions()
                   .arch(cfg.arch)
                   .stem(nn::ResNetStem::Cifar)
                   .in_channels(in_channels)
                   .width_multiplier(cfg.width > 0 ? static_cast<double>(cfg.width) / base_width : 1.0)
                   .zero_init_residual(cfg.zero_init_residual_on())
                   .stem_padding(cfg.stem_padding)
                   .seed(cfg.seed);
  auto encoder = nn::make_resnet(ropts);
  Generator gen(cfg.seed ^ 0x9E3779B97F4A7C15ull);
  auto projector = std::make_shared<nn::Projector>(encoder->feature_dim(), cfg.mlp, projector_last_bn(cfg.method),
                                                   /*bias=*/true, &gen);
  RESA_CHECK(cfg.loss_sides == 1 || cfg.loss_sides == 2, "[train] --loss-sides must be 1 or 2, got {}", cfg.loss_sides);
  MethodSpec spec{cfg.method, cfg.seed, cfg.resa, cfg.simclr, cfg.byol, cfg.swav, cfg.vicreg};
  spec.resa.loss_.symmetric_ = cfg.loss_sides == 2;
  auto m = make_method(spec, encoder, projector);
  m->to(Device::parse(cfg.device));
  return m;
}

// ---------------------------------------------------------------- optimisation
std::unique_ptr<nn::Optimizer> build_optimizer(const TrainConfig& cfg, const Method& method) {
  // Plain SGD on every parameter (the official recipe), or LARS, which leaves 1-D parameters (biases,
  // batch-norm) out of adaptation and weight decay.
  std::vector<nn::ParamGroup> groups;
  for (auto& m : method.trainable())
    groups.push_back(nn::make_group(
        *m, nn::ParamGroup().set_lr(cfg.base_lr()).set_weight_decay(cfg.weight_decay).set_momentum(cfg.sgd_momentum)));
  if (cfg.optimizer == "sgd") return std::make_unique<nn::SGD>(groups);
  if (cfg.optimizer == "lars") return std::make_unique<nn::LARS>(groups);
  RESA_FAIL("[train] optimizer '{}' must be sgd or lars", cfg.optimizer);
}

std::unique_ptr<data::Loader> build_loader(const TrainConfig& cfg, const RunData& data, int64_t rank, int64_t world,
                                           bool pin_memory) {
  const int64_t size = data.eval.image_size;
  std::vector<data::ViewConfig> views{data::ViewConfig::weak(size).normalize(data.eval.mean, data.eval.std),
                                      data::ViewConfig::strong(size).normalize(data.eval.mean, data.eval.std)};
  RESA_CHECK(data.train->size() >= cfg.batch_size, "[train] batch size {} is larger than the {} training images",
             cfg.batch_size, data.train->size());
  RESA_CHECK(cfg.batch_size % world == 0, "[train] batch size {} is not divisible by the {} ranks", cfg.batch_size,
             world);
  return std::make_unique<data::Loader>(data.train, views,
                                        data::LoaderOptions()
                                            .batch_size(cfg.batch_size / world)
                                            .shard(rank, world)
                                            .num_workers(std::max<int64_t>(1, cfg.workers))
                                            .seed(cfg.seed)
                                            .drop_last(true)
                                            .shuffle(true)
                                            .pin_memory(pin_memory));
}

}  // namespace resa::train
