// resa_eval: evaluates saved encoders (encoder.safetensors, the EMA teacher for ReSA, and
// encoder_online.safetensors from resa_cifar, or any file with torchvision ResNet names) on a labelled
// dataset: kNN (k=5, Euclidean, majority vote), weighted cosine kNN (k=200, T=0.1) and a linear probe
// on frozen features; prints one row per encoder, in the order given.
//
//   resa_eval --encoder runs/fashion_mnist_resa/encoder.safetensors \
//             --encoder runs/fashion_mnist_resa/encoder_online.safetensors --dataset fashion-mnist
#include <CLI/CLI.hpp>

#include "cli_checks.h"
#include "omp_env.h"
#include "resa/core/parallel.h"
#include "resa/eval/features.h"
#include "resa/eval/knn.h"
#include "resa/eval/linear_probe.h"
#include "resa/nn/io/checkpoint.h"
#include "resa/nn/io/safetensors.h"
#include "resa/nn/resnet.h"
#include "resa/train/trainer.h"

using namespace resa;

int main(int argc, char** argv) {
  app::ensure_passive_openmp(argv);
  CLI::App app{"kNN and linear-probe evaluation of a saved ResNet encoder"};
  std::vector<std::string> encoder_paths;
  std::string arch_opt;
  int64_t stem_padding_opt = -1;
  train::TrainConfig cfg;
  cfg.eval_subset = 0;
  int64_t probe_epochs = 100;
  app.add_option("--encoder", encoder_paths,
                 "safetensors file with an encoder's state dict (torchvision names); repeat to compare several")
      ->required()
      ->check(app::existing_file());
  app.add_option("--arch", arch_opt, "resnet18 | resnet34 | resnet50 | resnet_small (default: the file's metadata)")
      ->check(CLI::IsMember({"resnet18", "resnet34", "resnet50", "resnet_small"}));
  app.add_option("--stem-padding", stem_padding_opt,
                 "CIFAR stem conv padding (default: the file's metadata, 1 for files without it)")
      ->check(CLI::Range(int64_t{0}, int64_t{3}));
  app.add_option("--dataset", cfg.dataset, "cifar10 | cifar100 | fashion-mnist | mnist | folder")
      ->check(CLI::IsMember({"cifar10", "cifar100", "fashion-mnist", "mnist", "folder"}))
      ->capture_default_str();
  app.add_option("--data", cfg.data, "dataset folder (see resa_cifar --help)");
  app.add_option("--eval-subset", cfg.eval_subset,
                 "first N train and N test images (0: all; else >= 200, the weighted kNN's k)")
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            long long v = -1;
            try {
              size_t used = 0;
              v = std::stoll(s, &used);
              if (used != s.size()) v = -1;
            } catch (const std::exception&) {
            }
            return v == 0 || v >= 200 ? std::string() : fmt::format("value {} must be 0 (all) or >= 200", s);
          },
          "N"))
      ->capture_default_str();
  app.add_option("--probe-epochs", probe_epochs, "linear-probe epochs (0: skip)")
      ->check(app::at_least(0))
      ->capture_default_str();
  app.add_option("--device", cfg.device, "cpu | cuda")->check(app::device_name())->capture_default_str();
  app.add_option("--threads", cfg.threads, "CPU threads (0: all cores)")
      ->check(app::at_least(0))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    if (cfg.threads > 0) set_num_threads(cfg.threads);
    cfg.train_subset = 0;
    auto data = train::open_data(cfg);
    const auto& ev = data.eval;
    Device dev = Device::parse(cfg.device);
    Tensor ytr = dataset_labels(*ev.train), yte = dataset_labels(*ev.test);
    std::vector<std::string> rows;
    for (const std::string& encoder_path : encoder_paths) {
      auto file = nn::load_safetensors(encoder_path);
      auto meta = [&](const char* key) {
        auto it = file.metadata.find(key);
        return it == file.metadata.end() ? std::string() : it->second;
      };
      std::string arch = arch_opt.empty() ? meta("arch") : arch_opt;
      RESA_CHECK(!arch.empty(), "[resa_eval] {} has no 'arch' metadata: pass --arch", encoder_path);
      // Files written before the stem padding was recorded were trained with padding 1.
      int64_t stem_padding = stem_padding_opt >= 0          ? stem_padding_opt
                             : meta("stem_padding").empty() ? 1
                                                            : std::stoll(meta("stem_padding"));
      auto w = file.tensors.find("conv1.weight");
      RESA_CHECK(w != file.tensors.end() && w->second.dim() == 4, "[resa_eval] {} has no 4-D conv1.weight",
                 encoder_path);
      // Width and input channels come from the stem's weight: (width, channels, 3, 3).
      const int64_t width = w->second.size(0), channels = w->second.size(1);
      const double base = arch == "resnet_small" ? 32.0 : 64.0;
      auto encoder = nn::make_resnet(nn::ResNetOptions()
                                         .arch(arch)
                                         .in_channels(channels)
                                         .width_multiplier(width / base)
                                         .stem_padding(stem_padding));
      encoder->load_state_dict(file.tensors, true);
      encoder->to(dev);
      RESA_CHECK(ev.train->channels() == channels, "[resa_eval] {} takes {} channels, dataset {} has {}", encoder_path,
                 channels, cfg.dataset, ev.train->channels());
      Tensor ftr = extract_features(*encoder, *ev.train, ev.mean, ev.std, ev.image_size, dev);
      Tensor fte = extract_features(*encoder, *ev.test, ev.mean, ev.std, ev.image_size, dev);
      double knn = knn_classify(ftr, ytr, fte, yte).top1;
      auto wk = weighted_knn_classify(ftr, ytr, fte, yte);
      std::string probe = "-";
      if (probe_epochs > 0) {
        auto pr = linear_probe(ftr, ytr, fte, yte, LinearProbeOptions().epochs(probe_epochs));
        probe = fmt::format("{:.2f}% / {:.2f}%", 100 * pr.top1, 100 * pr.top5);
      }
      std::string role = meta("role").empty() ? "" : ", " + meta("role");
      rows.push_back(fmt::format("| {} ({}{}, width {}) | {} / {} | {:.2f}% | {:.2f}% / {:.2f}% | {} |", encoder_path,
                                 arch, role, width, ev.train->size(), ev.test->size(), 100 * knn, 100 * wk.top1,
                                 100 * wk.top5, probe));
    }
    fmt::print(
        "| encoder | train / test images | kNN k=5 | weighted kNN k=200 top-1 / top-5 | linear probe top-1 / top-5 "
        "|\n");
    fmt::print("|---|---|---|---|---|\n");
    for (auto& r : rows) fmt::print("{}\n", r);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
