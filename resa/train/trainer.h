// The training loop: epochs of steps over the augmented views, with the warm-up + cosine learning
// rate, SGD (or LARS), a JSON-lines log of every step and evaluation, a checkpoint every epoch (and
// when a stop is requested) with exact resume, a NaN/Inf guard, kNN evaluation and curves.png.
// Nothing here prints: progress goes to the callbacks (apps/ draws the progress bar).
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "resa/nn/optim/optimizer.h"
#include "resa/data/loader.h"
#include "resa/dist/communicator.h"
#include "resa/methods/method.h"
#include "resa/train/config.h"

namespace resa::train {

struct StepStats {
  int64_t step = 0;  // global step, counting from 1 after this step
  int64_t total_steps = 0;
  int64_t epoch = 0;  // from 0
  double loss = 0, lr = 0, ema_momentum = 0;
  double step_ms = 0, images_per_s = 0;
};

// kNN top-1 (k=5 Euclidean majority vote on the eval split, fractions) of the evaluated encoder (ReSA's
// EMA teacher: the official protocol) and of the online encoder (the same value for methods without a
// teacher).
struct KnnScores {
  double teacher = 0, online = 0;
};

struct EvalStats {
  int64_t epoch = 0, step = 0;
  KnnScores knn;
};

struct Callbacks {
  std::function<void(const StepStats&)> on_step;
  std::function<void(const EvalStats&)> on_eval;
  std::function<void(const std::string&)> on_message;
};

// A labelled split ready for evaluation: the dataset and how to turn its images into network inputs.
struct EvalData {
  data::DatasetPtr train, test;
  std::vector<float> mean, std;
  int64_t image_size = 0;
};

// The datasets named by a config: the (sub-sampled) training set and the labelled eval splits.
struct RunData {
  data::DatasetPtr train;
  EvalData eval;
  int64_t channels = 0;
};
RunData open_data(const TrainConfig& cfg);

// The method (encoder, projector, teacher...) a config describes, on its device.
std::shared_ptr<Method> build_method(const TrainConfig& cfg, int64_t in_channels);

// Encoder features (N, d) of images [0, n) of `ds`, un-augmented and normalised, in eval mode and
// batches of `batch`, on `device`. The result is on the CPU.
Tensor extract_features(nn::Module& encoder, const data::Dataset& ds, const std::vector<float>& mean,
                        const std::vector<float>& std, int64_t image_size, Device device, int64_t batch = 256);
Tensor dataset_labels(const data::Dataset& ds);

class Trainer {
 public:
  // Builds data, model and optimizer. With resume, continues from <out>/checkpoint.safetensors when it
  // exists (its config replaces `cfg`, except the device, threads and workers given now).
  // Data parallel: under mpirun (resa::dist::init()), or with `comm` given, each of the world's ranks
  // trains on its shard of the global batch cfg.batch_size (which the world size must divide), with
  // synchronized batch norm, the method's loss over the global batch and averaged gradients; rank 0
  // alone writes logs, checkpoints and curves and calls the callbacks. A checkpoint resumes with any
  // world size.
  Trainer(TrainConfig cfg, bool resume, dist::CommPtr comm = nullptr);
  ~Trainer();

  // Trains until the configured epochs (or max_steps) are done or stop() is called.
  // Returns true when training finished, false when it stopped early.
  bool run(const Callbacks& cb = {});
  // Asks the loop to stop after the current step and write a checkpoint (safe from a signal handler).
  void stop() { stop_.store(true); }

  const TrainConfig& config() const { return cfg_; }
  Method& method() { return *method_; }
  const nn::Optimizer& optimizer() const { return *optimizer_; }
  const RunData& data() const { return data_; }
  int64_t step() const { return step_; }
  int64_t epoch() const { return epoch_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  std::string checkpoint_path() const;
  // kNN top-1 (k=5) of the current eval (teacher) and online encoders on the eval split.
  KnnScores evaluate_knn();
  void save_checkpoint();
  const dist::Communicator& communicator() const { return *comm_; }
  bool is_root() const { return comm_->rank() == 0; }
  // Appends one JSON record (one line) to OUT/log.jsonl; rank 0 only.
  void log_json(const std::string& line);

 private:
  void resume_from(const std::string& path);
  void write_curves();

  TrainConfig cfg_;
  dist::CommPtr comm_;
  std::vector<Tensor> dp_params_;  // trainable parameters, in one order on every rank (gradient average)
  Device device_;
  RunData data_;
  std::shared_ptr<Method> method_;
  std::unique_ptr<nn::Optimizer> optimizer_;
  std::unique_ptr<data::Loader> loader_;
  int64_t steps_per_epoch_ = 0, total_steps_ = 0;
  int64_t step_ = 0;   // steps done
  int64_t epoch_ = 0;  // current epoch (from 0)
  std::atomic<bool> stop_{false};
  std::vector<double> curve_step_, curve_loss_, curve_lr_, curve_eval_epoch_, curve_knn_, curve_knn_online_;
};

}  // namespace resa::train
