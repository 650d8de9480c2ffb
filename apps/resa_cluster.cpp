// resa_cluster: the clustering analysis of trained self-supervised models. For the encoding H, the
// projector's hidden activations P0, P1, ... and the embedding Z of the first N images of a labelled
// split: the silhouette of the true classes (mean and std over samples) and the adjusted Rand index
// of k-means (k = number of classes) against them.
//
//   resa_cluster --run runs/an_resa                                  (its checkpoint.safetensors)
//   resa_cluster --checkpoints runs/an_resa/ckpt_*.safetensors --init (one row per checkpoint, over epochs)
//
// Writes OUT/clustering.json, OUT/clustering.md and OUT/clustering.png.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>

#include "omp_env.h"
#include "resa/core/parallel.h"
#include "resa/eval/analysis.h"
#include "resa/eval/features.h"
#include "resa/train/checkpoint_analysis.h"
#include "resa/train/setup.h"

using namespace resa;

int main(int argc, char** argv) {
  app::ensure_passive_openmp(argv);
  CLI::App app{"Clustering analysis (silhouette, k-means ARI) of H, the projector's hidden layers and Z."};
  std::string run, out, split = "test", metric = "cosine", data, device = "cpu";
  std::vector<std::string> checkpoints;
  int64_t samples = 10000, restarts = 5, batch = 256;
  uint64_t seed = 0;
  int threads = 0;
  bool init = false, pixels = false;
  app.add_option("--run", run, "a run folder of resa_cifar: analyses RUN/checkpoint.safetensors");
  app.add_option("--checkpoint,--checkpoints", checkpoints,
                 "checkpoint file(s) written by the trainer (several: followed over training, sorted by step)");
  app.add_flag("--init", init, "also analyse the untrained model of the same configuration and seed (epoch 0)");
  app.add_flag("--pixels", pixels, "also score the raw (normalised) pixels, the reference any encoder should beat");
  app.add_option("--split", split, "test | train")->capture_default_str();
  app.add_option("--samples", samples, "the first N images of the split (0: all)")->capture_default_str();
  app.add_option("--metric", metric, "silhouette distance: cosine | euclidean")->capture_default_str();
  app.add_option("--restarts", restarts, "k-means restarts (k-means++ seeds; the lowest inertia wins)")->capture_default_str();
  app.add_option("--seed", seed, "k-means seed")->capture_default_str();
  app.add_option("--data", data, "dataset folder (default: the run's own)");
  app.add_option("--device", device, "cpu | cuda | cuda:N (feature extraction)")->capture_default_str();
  app.add_option("--batch", batch, "images per forward pass")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: all cores)")->capture_default_str();
  app.add_option("--out", out, "output folder (default: RUN/clustering, else ./clustering)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (!run.empty()) checkpoints.insert(checkpoints.begin(), run + "/checkpoint.safetensors");
    RESA_CHECK(!checkpoints.empty(), "[resa_cluster] give --run DIR or --checkpoint FILE(s)");
    RESA_CHECK(metric == "cosine" || metric == "euclidean", "[resa_cluster] --metric {} must be cosine or euclidean",
               metric);
    if (out.empty()) out = run.empty() ? "clustering" : run + "/clustering";
    if (threads > 0) set_num_threads(threads);
    const Device dev = Device::parse(device);
    auto opts = ClusterAnalysisOptions()
                    .metric(metric == "cosine" ? DistanceMetric::Cosine : DistanceMetric::Euclidean)
                    .n_init(restarts)
                    .seed(seed);

    // Every checkpoint is analysed on the images of the first one's configuration.
    train::TrainConfig cfg = checkpoint_config(checkpoints.front());
    AnalysisData ad = open_analysis_data(cfg, AnalysisDataOptions().split(split).samples(samples).data(data));
    fmt::print("{} {} | {} {} images of {} | silhouette: {} | k-means: k = classes, {} restarts\n", cfg.method,
               cfg.arch, ad.images->size(), split, cfg.dataset, metric, restarts);

    std::vector<CheckpointAnalysis> results;
    auto timed = [&](const std::string& what, auto&& fn) {
      auto t0 = std::chrono::steady_clock::now();
      results.push_back(fn());
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      fmt::print("analysed {} in {:.1f} s\n", what, s);
    };
    if (init) {
      timed("the untrained model", [&] {
        train::TrainConfig c = cfg;
        c.device = device;
        auto m = train::build_method(c, ad.channels);
        CheckpointAnalysis a = analyse_method(*m, ad, dev, opts, batch);
        a.label = "init";
        return a;
      });
    }
    for (const auto& path : checkpoints) timed(path, [&] { return analyse_checkpoint(path, ad, dev, opts, batch); });
    std::stable_sort(results.begin(), results.end(),
                     [](const CheckpointAnalysis& a, const CheckpointAnalysis& b) { return a.step < b.step; });

    nlohmann::json meta{{"dataset", cfg.dataset}, {"arch", cfg.arch},   {"mlp", cfg.mlp},
                        {"split", split},         {"samples", ad.images->size()}, {"metric", metric},
                        {"kmeans_restarts", restarts}, {"kmeans_seed", seed}};
    if (pixels) {
      nn::Flatten flat;
      Component px{"pixels", extract_features(flat, *ad.images, ad.mean, ad.std, ad.image_size, kCPU, batch)};
      ComponentScores s = score_component(px, ad.labels, opts);
      meta["pixels"] = {{"dim", s.dim}, {"sc_mean", s.sc_mean}, {"sc_std", s.sc_std}, {"ari", s.ari}};
      fmt::print("raw pixels ({} dims): SC_mean {:.4f}, SC_std {:.4f}, ARI {:.4f}\n", s.dim, s.sc_mean, s.sc_std, s.ari);
    }
    write_analysis(out, results, meta);
    fmt::print("\n{}", analysis_to_markdown(results));
    fmt::print("written: {0}/clustering.json, {0}/clustering.md, {0}/clustering.png\n", out);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
