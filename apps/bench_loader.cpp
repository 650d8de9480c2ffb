// Throughput of the two-view CIFAR-shaped pipeline (weak + strong views of 32x32 RGB, batch 256):
// images per second delivered by the Loader with 1 and 2 workers (or the counts given).
//   bench_loader                       synthetic 32x32 RGB images
//   bench_loader --source fashion      Fashion-MNIST train, replicated to 3 channels, padded to 32
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "resa/data/loader.h"

using namespace resa;
using namespace resa::data;

int main(int argc, char** argv) {
  CLI::App app{"Data loader throughput (two-view CIFAR pipeline)"};
  std::string source = "synthetic", fashion_dir = "/usr/share/datasets/fashion-mnist";
  int64_t n = 20000, batch = 256, epochs = 1;
  std::vector<int64_t> workers{1, 2};
  app.add_option("--source", source, "synthetic or fashion")->check(CLI::IsMember({"synthetic", "fashion"}));
  app.add_option("--fashion-dir", fashion_dir, "Fashion-MNIST directory");
  app.add_option("--images", n, "synthetic images (or Fashion-MNIST subset size)");
  app.add_option("--batch", batch, "batch size");
  app.add_option("--epochs", epochs, "epochs timed per worker count");
  app.add_option("--workers", workers, "worker counts to time");
  CLI11_PARSE(app, argc, argv);

  try {
    DatasetPtr ds;
    if (source == "synthetic") {
      std::vector<uint8_t> px(static_cast<size_t>(n) * 3072);
      uint32_t s = 12345;
      for (auto& v : px) {
        s = s * 1664525u + 1013904223u;
        v = static_cast<uint8_t>(s >> 24);
      }
      std::vector<int64_t> lb(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) lb[i] = i % 10;
      ds = std::make_shared<InMemoryDataset>(std::move(px), std::move(lb), 3, 32, 32, Layout::CHW, 10);
    } else {
      ds = load_mnist_dir(fashion_dir, true, DatasetOptions().subset(n).gray_to_rgb().pad_to(32));
    }
    std::vector<ViewConfig> views{ViewConfig::weak(32).normalize(kCifar10Mean, kCifar10Std),
                                  ViewConfig::strong(32).normalize(kCifar10Mean, kCifar10Std)};
    std::printf("source %s, %lld images of %lldx%lldx%lld, batch %lld, views: weak + strong (32x32)\n", source.c_str(),
                (long long)ds->size(), (long long)ds->channels(), (long long)ds->height(), (long long)ds->width(),
                (long long)batch);
    for (int64_t w : workers) {
      Loader loader(ds, views,
                    LoaderOptions().batch_size(batch).num_workers(w).prefetch(std::max<int64_t>(4, 2 * w)).seed(0));
      // Warm-up epoch 0 batch (threads, buffers), then time whole epochs.
      loader.start_epoch(0);
      (void)loader.next();
      int64_t images = 0;
      auto t0 = std::chrono::steady_clock::now();
      for (int64_t e = 1; e <= epochs; ++e) {
        loader.start_epoch(e);
        while (auto b = loader.next()) images += b->labels.size(0);
      }
      double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("workers %lld: %lld images in %.3f s = %.0f images/s (%.0f views/s)\n", (long long)w,
                  (long long)images, sec, images / sec, 2 * images / sec);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
