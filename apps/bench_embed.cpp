// bench_embed: images per second through resa::Encoder::embed_hwc (preparation: channel conversion,
// /255, normalisation; then the encoder's forward in eval mode), for the main job's encoder (small
// ResNet of width 16, 1 x 28 x 28 Fashion-MNIST images) and ResNet-18 on 3 x 32 x 32 CIFAR-sized images.
// Weights are random (the speed does not depend on them). Prints the CPU, then one line per encoder
// with the median over the runs.
//
//   bench_embed [--images 2048] [--batch 256] [--runs 5] [--threads 0] [--encoder FILE ...]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>

#include "omp_env.h"
#include "resa/core/cpu_info.h"
#include "resa/core/parallel.h"
#include "resa/data/augment.h"
#include "resa/encoder.h"

using namespace resa;

namespace {
Encoder random_encoder(const std::string& arch, double width_mult, int64_t channels, int64_t size) {
  EncoderInfo info;
  info.arch = arch;
  info.in_channels = channels;
  info.stem_padding = 2;
  info.image_size = size;
  info.mean = channels == 1 ? std::vector<float>{0.2860f} : data::kCifar10Mean;
  info.std = channels == 1 ? std::vector<float>{0.3530f} : data::kCifar10Std;
  info.width = static_cast<int64_t>((arch == "resnet_small" ? 32 : 64) * width_mult);
  auto net = nn::make_resnet(
      nn::ResNetOptions().arch(arch).in_channels(channels).width_multiplier(width_mult).stem_padding(2));
  return Encoder(net, info);
}
}  // namespace

int main(int argc, char** argv) {
  app::ensure_passive_openmp(argv);
  CLI::App app{"Embedding throughput of resa::Encoder on the CPU."};
  int64_t images = 2048, batch = 256, runs = 5;
  int threads = 0;
  std::vector<std::string> files;
  app.add_option("--images", images, "images per run")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--batch", batch, "images per forward pass")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  app.add_option("--runs", runs, "timed runs (the median is printed)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  app.add_option("--threads", threads, "CPU threads (0: all cores)")->capture_default_str()->check(CLI::Range(0, 4096));
  app.add_option("--encoder", files, "encoder.safetensors file(s) to time instead of the two built-in encoders");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) set_num_threads(threads);
  try {
    std::vector<std::pair<std::string, Encoder>> encoders;
    if (files.empty()) {
      encoders.emplace_back("main job: resnet_small width 16, 1x28x28", random_encoder("resnet_small", 0.5, 1, 28));
      encoders.emplace_back("resnet18, 3x32x32", random_encoder("resnet18", 1.0, 3, 32));
    } else {
      for (auto& f : files) encoders.emplace_back(f, Encoder::load(f));
    }
    fmt::print("CPU: {} ({}), {} threads; {} images per run, batch {}, median of {} runs\n", cpu_model_name(),
               cpu_vector_isa(), get_num_threads(), images, batch, runs);
    for (auto& [name, enc] : encoders) {
      const int64_t c = enc.info().in_channels, s = enc.info().image_size;
      std::vector<uint8_t> px(static_cast<size_t>(images * s * s * c));
      for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>((i * 2654435761u) >> 24);
      (void)enc.embed_hwc(px.data(), std::min<int64_t>(images, batch), s, s, c, batch);  // warm-up
      std::vector<double> rates;
      for (int64_t r = 0; r < runs; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        Tensor f = enc.embed_hwc(px.data(), images, s, s, c, batch);
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        rates.push_back(static_cast<double>(f.size(0)) / sec);
      }
      std::sort(rates.begin(), rates.end());
      fmt::print("{:<45} {:>9.1f} images/s (runs: {:.1f} .. {:.1f}), {}-d features\n", name, rates[rates.size() / 2],
                 rates.front(), rates.back(), enc.feature_dim());
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
