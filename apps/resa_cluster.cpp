// resa_cluster: the clustering analysis of trained self-supervised models. For the encoding H, the
// projector's hidden activations P0, P1, ... and the embedding Z of the first N images of a labelled
// split: the silhouette of the true classes (mean and std over samples) and the adjusted Rand index
// of k-means (k = number of classes) against them.
//
//   resa_cluster --run runs/an_resa                                  (its checkpoint.safetensors)
//   resa_cluster --checkpoints runs/an_resa/ckpt_*.safetensors --init (one row per checkpoint, over epochs)
//
//   resa_cluster --run runs/an_resa --map                            (also 2-D maps of H and Z)
//
// Writes OUT/clustering.json, OUT/clustering.md and OUT/clustering.png; with --map also OUT/map_tsne.png
// and OUT/map_pca.png: the last checkpoint's encodings H and embeddings Z of the first --map-samples
// images side by side, one colour per class, with each map's trustworthiness (k = 10) in its title.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>

#include "cli_checks.h"
#include "omp_env.h"
#include "resa/core/parallel.h"
#include "resa/eval/analysis.h"
#include "resa/eval/embedding_map.h"
#include "resa/eval/features.h"
#include "resa/eval/plot.h"
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
  bool init = false, pixels = false, map = false;
  int64_t map_samples = 2000;
  double perplexity = 30;
  app.add_option("--run", run, "a run folder of resa_cifar: analyses RUN/checkpoint.safetensors")
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            return std::filesystem::is_regular_file(s + "/checkpoint.safetensors")
                       ? std::string()
                       : fmt::format("'{}' holds no checkpoint.safetensors (not a resa_cifar run folder)", s);
          },
          "DIR"));
  app.add_option("--checkpoint,--checkpoints", checkpoints,
                 "checkpoint file(s) written by the trainer (several: followed over training, sorted by step)")
      ->check(app::existing_file());
  app.add_flag("--init", init, "also analyse the untrained model of the same configuration and seed (epoch 0)");
  app.add_flag("--pixels", pixels, "also score the raw (normalised) pixels, the reference any encoder should beat");
  app.add_option("--split", split, "test | train")->check(CLI::IsMember({"test", "train"}))->capture_default_str();
  app.add_option("--samples", samples, "the first N images of the split (0: all)")
      ->check(app::at_least(0))
      ->capture_default_str();
  app.add_option("--metric", metric, "silhouette distance: cosine | euclidean")
      ->check(CLI::IsMember({"cosine", "euclidean"}))
      ->capture_default_str();
  app.add_option("--restarts", restarts, "k-means restarts (k-means++ seeds; the lowest inertia wins)")
      ->check(app::at_least(1))
      ->capture_default_str();
  app.add_option("--seed", seed, "k-means seed")->capture_default_str();
  app.add_option("--data", data, "dataset folder (default: the run's own)");
  app.add_option("--device", device, "cpu | cuda | cuda:N (feature extraction)")
      ->check(app::device_name())
      ->capture_default_str();
  app.add_option("--batch", batch, "images per forward pass")->check(app::at_least(1))->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: all cores)")->check(app::at_least(0))->capture_default_str();
  app.add_option("--out", out, "output folder (default: RUN/clustering, else ./clustering)");
  app.add_flag("--map", map, "also draw 2-D maps (t-SNE and PCA) of H and Z of the last checkpoint");
  app.add_option("--map-samples", map_samples, "images in the maps (exact t-SNE: a few thousand at most)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{10}, int64_t{10000}));
  app.add_option("--perplexity", perplexity, "t-SNE perplexity (effective neighbours per point)")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1000.0));
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

    nlohmann::json meta{{"dataset", cfg.dataset},
                        {"arch", cfg.arch},
                        {"mlp", cfg.mlp},
                        {"split", split},
                        {"samples", ad.images->size()},
                        {"metric", metric},
                        {"kmeans_restarts", restarts},
                        {"kmeans_seed", seed}};
    if (pixels) {
      nn::Flatten flat;
      Component px{"pixels", extract_features(flat, *ad.images, ad.mean, ad.std, ad.image_size, kCPU, batch)};
      ComponentScores s = score_component(px, ad.labels, opts);
      meta["pixels"] = {{"dim", s.dim}, {"sc_mean", s.sc_mean}, {"sc_std", s.sc_std}, {"ari", s.ari}};
      fmt::print("raw pixels ({} dims): SC_mean {:.4f}, SC_std {:.4f}, ARI {:.4f}\n", s.dim, s.sc_mean, s.sc_std,
                 s.ari);
    }
    write_analysis(out, results, meta);
    if (map) {
      // H and Z of the last checkpoint (by step) on the first map_samples images of the analysis.
      auto t0 = std::chrono::steady_clock::now();
      const std::string& last = results.back().label == "init" ? checkpoints.back() : results.back().label;
      auto method = load_checkpoint_method(last, ad.channels, dev);
      auto proj = std::dynamic_pointer_cast<nn::Projector>(method->eval_projector());
      RESA_CHECK(proj != nullptr, "[resa_cluster] the projector of {} is not an nn::Projector", last);
      const int64_t n = std::min(map_samples, ad.images->size());
      RESA_CHECK(perplexity < static_cast<double>(n), "[resa_cluster] --perplexity {} must be below the {} map images",
                 perplexity, n);
      auto subset = data::make_subset_first(ad.images, n);
      auto comps =
          extract_components(*method->eval_encoder(), *proj, *subset, ad.mean, ad.std, ad.image_size, dev, batch);
      std::vector<int64_t> labels = ad.labels.narrow(0, 0, n).to_vector<int64_t>();
      std::vector<std::string> names = ad.images->class_names();
      if (names.empty() && cfg.dataset == "fashion-mnist")  // the IDX files carry no names
        names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
      std::vector<plot::ScatterPanel> tsne_panels, pca_panels;
      for (const Component* c : {&comps.front(), &comps.back()}) {
        const std::string what = c->name == "H" ? "ENCODING H" : "EMBEDDING Z";
        Tensor p2 = pca(c->features, 2);
        TsneResult t = tsne(c->features, TsneOptions().perplexity(perplexity));
        auto xy = [](const Tensor& m, int64_t col) { return m.select(1, col).contiguous().to_vector<double>(); };
        const double trust_t = trustworthiness(c->features, t.embedding, 10);
        const double trust_p = trustworthiness(c->features, p2, 10);
        tsne_panels.push_back(
            {fmt::format("{}: TRUST {:.3f}", what, trust_t), xy(t.embedding, 0), xy(t.embedding, 1), labels, names});
        pca_panels.push_back({fmt::format("{}: TRUST {:.3f}", what, trust_p), xy(p2, 0), xy(p2, 1), labels, names});
        fmt::print("map of {} ({} dims): t-SNE KL {:.3f}, trustworthiness(10) t-SNE {:.4f}, PCA {:.4f}\n", c->name,
                   c->features.size(1), t.kl, trust_t, trust_p);
      }
      const std::string head = fmt::format("{} ON {}, {} {} IMAGES", cfg.method, cfg.dataset, n, split);
      plot::write_scatter_png(out + "/map_tsne.png", tsne_panels, 480, "T-SNE: " + head);
      plot::write_scatter_png(out + "/map_pca.png", pca_panels, 480, "PCA: " + head);
      fmt::print("maps in {:.1f} s: {}/map_tsne.png, {}/map_pca.png\n",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), out, out);
    }
    fmt::print("\n{}", analysis_to_markdown(results));
    fmt::print("written: {0}/clustering.json, {0}/clustering.md, {0}/clustering.png\n", out);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
