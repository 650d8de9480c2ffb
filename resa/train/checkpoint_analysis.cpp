#include "resa/train/checkpoint_analysis.h"

#include "resa/eval/features.h"
#include "resa/nn/io/checkpoint.h"
#include "resa/train/setup.h"

namespace resa {

AnalysisData open_analysis_data(const train::TrainConfig& cfg, const AnalysisDataOptions& opts) {
  RESA_CHECK(opts.split_ == "test" || opts.split_ == "train", "[analysis] split '{}' must be test or train",
             opts.split_);
  RESA_CHECK(opts.samples_ >= 0, "[analysis] samples {} must be >= 0", opts.samples_);
  train::TrainConfig c = cfg;
  if (!opts.data_.empty()) c.data = opts.data_;
  c.eval_subset = opts.samples_;
  train::RunData rd = train::open_data(c);
  AnalysisData d;
  d.images = opts.split_ == "test" ? rd.eval.test : rd.eval.train;
  d.labels = dataset_labels(*d.images);
  d.mean = rd.eval.mean;
  d.std = rd.eval.std;
  d.image_size = rd.eval.image_size;
  d.channels = rd.channels;
  d.steps_per_epoch = cfg.batch_size > 0 ? rd.train->size() / cfg.batch_size : 0;
  d.split = opts.split_;
  return d;
}

train::TrainConfig checkpoint_config(const std::string& path) {
  return nlohmann::json::parse(nn::load_checkpoint(path).config).get<train::TrainConfig>();
}

std::shared_ptr<Method> load_checkpoint_method(const std::string& path, int64_t in_channels, Device device,
                                               int64_t* step) {
  nn::Checkpoint ck = nn::load_checkpoint(path);
  train::TrainConfig cfg = nlohmann::json::parse(ck.config).get<train::TrainConfig>();
  cfg.device = device.str();
  auto method = train::build_method(cfg, in_channels);
  for (auto& [name, m] : method->modules()) m->load_state_dict(ck.get(name), true);
  if (step) *step = ck.step;
  return method;
}

CheckpointAnalysis analyse_checkpoint(const std::string& path, const AnalysisData& data, Device device,
                                      const ClusterAnalysisOptions& opts, int64_t batch) {
  int64_t step = 0;
  auto method = load_checkpoint_method(path, data.channels, device, &step);
  CheckpointAnalysis a = analyse_method(*method, data, device, opts, batch);
  a.label = path;
  a.step = step;
  a.epoch = data.steps_per_epoch > 0 ? static_cast<double>(step) / static_cast<double>(data.steps_per_epoch) : 0;
  return a;
}

}  // namespace resa
