// What a run is made of, built from its TrainConfig: the datasets, the method (encoder, projector and
// whatever the method adds), the optimizer over its trainable modules, and the loader of augmented
// views. The Trainer calls these once; the apps and the analysis call open_data and build_method to
// rebuild a run's data and networks from a saved config.
#pragma once
#include <memory>

#include "resa/data/dataset.h"
#include "resa/data/loader.h"
#include "resa/eval/features.h"
#include "resa/methods/method.h"
#include "resa/nn/optim/optimizer.h"
#include "resa/train/config.h"

namespace resa::train {

// The datasets named by a config: the (sub-sampled) training set and the labelled eval splits.
struct RunData {
  data::DatasetPtr train;
  EvalData eval;
  int64_t channels = 0;
};
RunData open_data(const TrainConfig& cfg);
// The checks of a config that need its data's sizes (validate() in config.h has the others): the
// subsets within their splits, the batch within the training images. Throws resa::Error naming the flag.
void validate_data(const TrainConfig& cfg, const RunData& data);

// The method (encoder, projector, teacher...) a config describes, on its device.
std::shared_ptr<Method> build_method(const TrainConfig& cfg, int64_t in_channels);

// SGD (the official recipe) or LARS over the method's trainable modules, at the config's base rate.
std::unique_ptr<nn::Optimizer> build_optimizer(const TrainConfig& cfg, const Method& method);

// The loader of this rank's shard of each global batch: two views (weak, strong) of every image.
std::unique_ptr<data::Loader> build_loader(const TrainConfig& cfg, const RunData& data, int64_t rank, int64_t world,
                                           bool pin_memory);

}  // namespace resa::train
