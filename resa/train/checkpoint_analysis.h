// The clustering analysis (resa/eval/analysis.h) of runs written by train::Trainer: their labelled
// images, opened from the run's config, and their checkpoints, rebuilt from the config each stores.
// It sits in train/ because it needs the run's config and setup; eval/ knows nothing of runs.
#pragma once
#include <memory>
#include <string>

#include "resa/eval/analysis.h"
#include "resa/methods/method.h"
#include "resa/train/config.h"

namespace resa {

struct AnalysisDataOptions {
  RESA_OPTION(std::string, split, "test");  // test | train
  RESA_OPTION(int64_t, samples, 10000);     // 0: the whole split
  RESA_OPTION(std::string, data, {});       // dataset folder (empty: the run's own)
};
// The first `samples` images of the split of the run's dataset, with the run's normalisation.
AnalysisData open_analysis_data(const train::TrainConfig& cfg, const AnalysisDataOptions& opts = {});

// The run configuration stored in a checkpoint written by train::Trainer.
train::TrainConfig checkpoint_config(const std::string& path);
// The method of a checkpoint written by train::Trainer, rebuilt from its stored configuration on
// `device` with every module's state loaded; `step` receives the checkpoint's step when given.
std::shared_ptr<Method> load_checkpoint_method(const std::string& path, int64_t in_channels, Device device,
                                               int64_t* step = nullptr);

// Rebuilds the method of a checkpoint written by train::Trainer (from its stored configuration, on
// `device`), loads every module's state and analyses it.
CheckpointAnalysis analyse_checkpoint(const std::string& path, const AnalysisData& data, Device device,
                                      const ClusterAnalysisOptions& opts = {}, int64_t batch = 256);

}  // namespace resa
