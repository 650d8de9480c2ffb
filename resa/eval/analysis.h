// Clustering analysis of a trained self-supervised model (as "Clustering Properties of Self-Supervised
// Learning", ICML 2025): for the encoding H, each hidden activation of the projector (P0, P1, ...)
// and the embedding Z, how well the true classes form clusters (silhouette, mean and std over samples)
// and how well k-means with k = number of classes recovers them (adjusted Rand index).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "resa/data/dataset.h"
#include "resa/eval/cluster.h"
#include "resa/methods/method.h"
#include "resa/nn/mlp.h"

namespace resa {

// One component's features: (n, d) float32 on the CPU.
struct Component {
  std::string name;  // "H", "P0", "P1", ..., "Z"
  Tensor features;
};

// H = encoder(x), P_i = the i-th hidden (Linear, BN, ReLU) activation of the projector (after the
// ReLU, as Projector::forward_with_hidden), Z = projector output, for images [0, n) of `ds`,
// un-augmented and normalised exactly as extract_features (resa/eval/features.h), in eval mode and batches of
// `batch`. The modules' train/eval modes are restored afterwards.
std::vector<Component> extract_components(nn::Module& encoder, nn::Projector& projector, const data::Dataset& ds,
                                          const std::vector<float>& mean, const std::vector<float>& std,
                                          int64_t image_size, Device device, int64_t batch = 256);

struct ClusterAnalysisOptions {
  RESA_OPTION(DistanceMetric, metric, DistanceMetric::Cosine);  // of the silhouette
  RESA_OPTION(int64_t, n_init, 5);                              // k-means restarts (the lowest inertia wins)
  RESA_OPTION(int64_t, max_iter, 300);
  RESA_OPTION(uint64_t, seed, 0);
  RESA_OPTION(int64_t, block_rows, 1024);  // rows of the distance blocks: 10,000 samples need block_rows x n doubles
};

struct ComponentScores {
  std::string name;
  int64_t dim = 0;
  double sc_mean = 0, sc_std = 0;  // silhouette of the true classes
  double ari = 0;                  // k-means (k = number of classes, Euclidean) against the classes
  int64_t kmeans_iter = 0;
};

// The silhouette of `labels` (int64 (n)) on the features, and the ARI of k-means on the features
// (as they are, Euclidean, k = the number of distinct labels) against `labels`.
ComponentScores score_component(const Component& c, const Tensor& labels, const ClusterAnalysisOptions& opts = {});
std::vector<ComponentScores> score_components(const std::vector<Component>& comps, const Tensor& labels,
                                              const ClusterAnalysisOptions& opts = {});

// ---------------------------------------------------------------- runs and checkpoints

// The labelled images a run is analysed on: the first `samples` images of the train or test split of
// the run's dataset (open_analysis_data in resa/train/checkpoint_analysis.h opens them for a run).
struct AnalysisData {
  data::DatasetPtr images;
  Tensor labels;  // int64 (n)
  std::vector<float> mean, std;
  int64_t image_size = 0;
  int64_t channels = 0;
  int64_t steps_per_epoch = 0;  // of the run's training (to turn checkpoint steps into epochs)
  std::string split;
};

struct CheckpointAnalysis {
  std::string label;  // the checkpoint path, or "init" for the untrained model
  std::string method;
  int64_t step = 0;
  double epoch = 0;  // step / steps per epoch
  std::vector<ComponentScores> scores;
};

// Analyses a method's eval encoder and eval projector (which must be an nn::Projector).
CheckpointAnalysis analyse_method(Method& method, const AnalysisData& data, Device device,
                                  const ClusterAnalysisOptions& opts = {}, int64_t batch = 256);

// Writes <dir>/clustering.json (meta + every checkpoint's scores), <dir>/clustering.md (a table per
// checkpoint) and <dir>/clustering.png (each metric per component over epochs when there are several
// checkpoints, else bars per component).
nlohmann::json analysis_to_json(const std::vector<CheckpointAnalysis>& runs, const nlohmann::json& meta);
std::string analysis_to_markdown(const std::vector<CheckpointAnalysis>& runs);
void write_analysis(const std::string& dir, const std::vector<CheckpointAnalysis>& runs, const nlohmann::json& meta);

}  // namespace resa
