// Clustering analysis: the components H, P0, P1, Z of a tiny model on a tiny MNIST-format dataset have
// the right shapes and equal the encoder / projector outputs, the scores equal direct calls of
// resa/eval/cluster.h on them, and a checkpoint written as the trainer does is analysed to the same
// numbers and reported in clustering.json.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "resa/core/rng.h"
#include "resa/eval/analysis.h"
#include "resa/eval/features.h"
#include "resa/nn/io/checkpoint.h"
#include "resa/train/checkpoint_analysis.h"
#include "resa/train/setup.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;
namespace fs = std::filesystem;

namespace {
void put_be32(std::ofstream& f, uint32_t v) {
  const unsigned char b[4] = {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16),
                              static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
  f.write(reinterpret_cast<const char*>(b), 4);
}

// An MNIST-format folder: n images 28x28 per split, 4 classes, each class a bright bar at its own
// place plus noise, so the classes are (roughly) separable.
std::string write_tiny_mnist(int64_t n) {
  std::string dir = std::string(RESA_TEST_TMP) + "/analysis_mnist";
  fs::create_directories(dir);
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<unsigned>(state >> 33);
  };
  for (const char* split : {"train", "t10k"}) {
    std::ofstream im(dir + "/" + split + "-images-idx3-ubyte", std::ios::binary);
    std::ofstream lb(dir + "/" + split + "-labels-idx1-ubyte", std::ios::binary);
    put_be32(im, 0x803), put_be32(im, static_cast<uint32_t>(n)), put_be32(im, 28), put_be32(im, 28);
    put_be32(lb, 0x801), put_be32(lb, static_cast<uint32_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const int cls = static_cast<int>(i % 4);
      for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x) {
          bool bar = cls < 2 ? (y / 7 == cls * 2) : (x / 7 == (cls - 2) * 2);
          unsigned v = (bar ? 180 : 20) + next() % 60;
          char c = static_cast<char>(std::min(255u, v));
          im.write(&c, 1);
        }
      char l = static_cast<char>(cls);
      lb.write(&l, 1);
    }
  }
  return dir;
}

train::TrainConfig tiny_config(const std::string& dir) {
  train::TrainConfig cfg;
  cfg.dataset = "mnist";
  cfg.data = dir;
  cfg.arch = "resnet_small";
  cfg.width = 4;
  cfg.mlp = "16-12-8";
  cfg.batch_size = 8;
  cfg.seed = 3;
  return cfg;
}

// Scores computed here directly from cluster.h, the reference the analysis must equal.
ComponentScores direct_scores(const Tensor& f, const Tensor& labels, DistanceMetric metric, int64_t k, int64_t n_init,
                              uint64_t seed) {
  ComponentScores s;
  auto sil = silhouette(f, labels, metric);
  s.sc_mean = sil.mean;
  s.sc_std = sil.std;
  s.ari = adjusted_rand_index(kmeans(f, KMeansOptions().k(k).n_init(n_init).seed(seed)).labels, labels);
  return s;
}
}  // namespace

TEST_CASE("components H, P0, P1, Z: shapes, values and modes") {
  const int64_t n = 36;
  auto cfg = tiny_config(write_tiny_mnist(n));
  AnalysisData ad = open_analysis_data(cfg, AnalysisDataOptions().split("test").samples(24));
  REQUIRE(ad.images->size() == 24);
  CHECK(ad.labels.size(0) == 24);
  CHECK(ad.steps_per_epoch == n / cfg.batch_size);
  auto method = train::build_method(cfg, ad.channels);
  auto enc = method->eval_encoder();
  auto proj = std::dynamic_pointer_cast<nn::Projector>(method->eval_projector());
  REQUIRE(proj != nullptr);
  enc->train(true);
  proj->train(true);

  auto comps = extract_components(*enc, *proj, *ad.images, ad.mean, ad.std, ad.image_size, kCPU, /*batch=*/5);
  REQUIRE(comps.size() == 4);
  Tensor h = extract_features(*enc, *ad.images, ad.mean, ad.std, ad.image_size, kCPU);
  const int64_t d = h.size(1);
  const std::vector<std::pair<std::string, int64_t>> expect{{"H", d}, {"P0", 16}, {"P1", 12}, {"Z", 8}};
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(comps[i].name == expect[i].first);
    CHECK(comps[i].features.shape() == Shape{24, expect[i].second});
    CHECK(comps[i].features.device() == kCPU);
  }
  CHECK(enc->is_training());  // modes restored
  CHECK(proj->is_training());

  // H is what extract_features gives; P0, P1, Z are the eval-mode projector's on H.
  CHECK(max_abs_error(comps[0].features, h) < 1e-6);
  proj->eval();
  std::vector<Tensor> hidden;
  Tensor z;
  {
    NoGradGuard ng;
    z = proj->forward_with_hidden(h, &hidden);
  }
  REQUIRE(hidden.size() == 2);
  CHECK(max_abs_error(comps[1].features, hidden[0]) < 1e-5);
  CHECK(max_abs_error(comps[2].features, hidden[1]) < 1e-5);
  CHECK(max_abs_error(comps[3].features, z) < 1e-5);
  for (float v : comps[1].features.to_vector<float>()) REQUIRE(v >= 0.0f);  // after the ReLU
}

TEST_CASE("scores equal direct silhouette / k-means / ARI calls; cosine is the default") {
  auto cfg = tiny_config(write_tiny_mnist(40));
  AnalysisData ad = open_analysis_data(cfg, AnalysisDataOptions().split("train").samples(40));
  auto method = train::build_method(cfg, ad.channels);
  auto proj = std::dynamic_pointer_cast<nn::Projector>(method->eval_projector());
  auto comps = extract_components(*method->eval_encoder(), *proj, *ad.images, ad.mean, ad.std, ad.image_size, kCPU);
  for (auto metric : {DistanceMetric::Cosine, DistanceMetric::Euclidean}) {
    auto opts = ClusterAnalysisOptions().metric(metric).n_init(3).seed(7);
    auto scores = score_components(comps, ad.labels, opts);
    REQUIRE(scores.size() == comps.size());
    for (size_t i = 0; i < comps.size(); ++i) {
      CAPTURE(comps[i].name);
      auto ref = direct_scores(comps[i].features, ad.labels, metric, 4, 3, 7);
      CHECK(scores[i].name == comps[i].name);
      CHECK(scores[i].dim == comps[i].features.size(1));
      CHECK(scores[i].sc_mean == ref.sc_mean);
      CHECK(scores[i].sc_std == ref.sc_std);
      CHECK(scores[i].ari == ref.ari);
    }
  }
  CHECK(ClusterAnalysisOptions().metric_ == DistanceMetric::Cosine);
  // A labelling the features separate perfectly: silhouette near its maximum, ARI exactly 1.
  Tensor x = from_vector<double>({0, 0, 0.1, 0, 0, 0.1, 10, 10, 10.1, 10, 10, 10.1}, Shape{6, 2});
  Tensor y = from_vector<int64_t>({0, 0, 0, 1, 1, 1}, Shape{6});
  auto s = score_component(Component{"X", x}, y, ClusterAnalysisOptions().metric(DistanceMetric::Euclidean));
  CHECK(s.ari == 1.0);
  CHECK(s.sc_mean > 0.98);
}

TEST_CASE("a trainer-format checkpoint is analysed to the same numbers and written as JSON") {
  auto cfg = tiny_config(write_tiny_mnist(40));
  AnalysisData ad = open_analysis_data(cfg, AnalysisDataOptions().split("test").samples(32));
  auto method = train::build_method(cfg, ad.channels);
  // Move away from the seed's initial weights, so loading the checkpoint matters.
  Generator gen(99);
  {
    NoGradGuard ng;
    for (auto& [name, m] : method->modules())
      for (auto& [pn, p] : m->named_parameters()) p.copy_(add(p, mul(randn(p.shape(), TensorOptions(), &gen), 0.05)));
  }
  nn::Checkpoint ck;  // as train::Trainer::save_checkpoint
  for (auto& [name, m] : method->modules()) ck.put(name, m->state_dict());
  ck.step = 10;
  ck.config = nlohmann::json(cfg).dump();
  const std::string path = std::string(RESA_TEST_TMP) + "/analysis_ckpt.safetensors";
  nn::save_checkpoint(path, ck);

  auto opts = ClusterAnalysisOptions().n_init(2).seed(1);
  auto proj = std::dynamic_pointer_cast<nn::Projector>(method->eval_projector());
  auto comps = extract_components(*method->eval_encoder(), *proj, *ad.images, ad.mean, ad.std, ad.image_size, kCPU);
  CheckpointAnalysis a = analyse_checkpoint(path, ad, kCPU, opts);
  CHECK(a.label == path);
  CHECK(a.method == method->name());
  CHECK(a.step == 10);
  CHECK(a.epoch == doctest::Approx(10.0 / 5.0));  // 40 training images / batch 8 = 5 steps per epoch
  REQUIRE(a.scores.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    auto ref = direct_scores(comps[i].features, ad.labels, DistanceMetric::Cosine, 4, 2, 1);
    CHECK(a.scores[i].sc_mean == doctest::Approx(ref.sc_mean).epsilon(1e-9));
    CHECK(a.scores[i].sc_std == doctest::Approx(ref.sc_std).epsilon(1e-9));
    CHECK(a.scores[i].ari == doctest::Approx(ref.ari).epsilon(1e-9));
  }

  // Two checkpoints (init + trained) give the over-epochs report; one gives the bars.
  CheckpointAnalysis init = analyse_method(*train::build_method(cfg, ad.channels), ad, kCPU, opts);
  init.label = "init";
  for (auto runs : {std::vector<CheckpointAnalysis>{a}, std::vector<CheckpointAnalysis>{init, a}}) {
    const std::string out = std::string(RESA_TEST_TMP) + "/analysis_out" + std::to_string(runs.size());
    fs::remove_all(out);
    write_analysis(out, runs, nlohmann::json{{"metric", "cosine"}});
    std::ifstream f(out + "/clustering.json");
    REQUIRE(f.good());
    auto j = nlohmann::json::parse(f);
    CHECK(j["metric"] == "cosine");
    REQUIRE(j["checkpoints"].size() == runs.size());
    auto last = j["checkpoints"].back();
    CHECK(last["checkpoint"] == path);
    CHECK(last["step"] == 10);
    REQUIRE(last["components"].size() == 4);
    const char* names[] = {"H", "P0", "P1", "Z"};
    for (size_t i = 0; i < 4; ++i) {
      CHECK(last["components"][i]["name"] == names[i]);
      CHECK(last["components"][i]["sc_mean"].get<double>() == a.scores[i].sc_mean);
      CHECK(last["components"][i]["sc_std"].get<double>() == a.scores[i].sc_std);
      CHECK(last["components"][i]["ari"].get<double>() == a.scores[i].ari);
    }
    std::ifstream md(out + "/clustering.md");
    std::string text((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
    CHECK(text.find("| P1 | 12 |") != std::string::npos);
    std::ifstream png(out + "/clustering.png", std::ios::binary);
    char magic[4] = {};
    png.read(magic, 4);
    CHECK(std::string(magic + 1, 3) == "PNG");
  }
}
