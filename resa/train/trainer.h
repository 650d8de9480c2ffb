// The training loop: epochs of steps over the augmented views, with the warm-up + cosine learning
// rate, SGD (or LARS), a JSON-lines log of every step and evaluation, a checkpoint every epoch (and
// when a stop is requested) with exact resume, a NaN/Inf guard, kNN evaluation and curves.png.
// What a run is made of (data, method, optimizer, loader) is built in resa/train/setup.h; the features
// it evaluates come from resa/eval/features.h. Nothing here prints: progress goes to the callbacks
// (apps/ draws the progress bar).
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "resa/data/loader.h"
#include "resa/dist/communicator.h"
#include "resa/methods/method.h"
#include "resa/nn/optim/optimizer.h"
#include "resa/nn/optim/schedule.h"
#include "resa/train/config.h"
#include "resa/train/setup.h"

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

// Closes f and throws resa::Error naming path (and errno's reason) if any write, the flush or the close
// failed: what every ofstream the training writes goes through.
void check_written(std::ofstream& f, const std::string& path);

struct Callbacks {
  std::function<void(const StepStats&)> on_step;
  std::function<void(const EvalStats&)> on_eval;
  std::function<void(const std::string&)> on_message;
};

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

  // Trains until the configured epochs (or max_steps) are done or stop() is called: epochs of
  // train_step(), then the evaluation when one is due and a checkpoint.
  // Returns true when training finished, false when it stopped early.
  bool run(const Callbacks& cb = {});
  // One optimisation step on the next batch of the loader (which must have an epoch started, as run()
  // does): views to the device, forward and loss, backward, gradient average, optimizer step, log.
  StepStats train_step();
  // Asks the loop to stop after the current step and write a checkpoint (safe from a signal handler).
  // `signal`: the signal that asked (SIGINT, SIGTERM, SIGUSR1...), 0 for none; under MPI the ranks
  // agree on one (the lowest number any rank received), which stop_signal() then returns on all.
  void stop(int signal = 0) {
    if (signal > 0 && signal < kMaxSignal) stop_signal_.store(signal);
    stop_.store(true);
  }
  int stop_signal() const { return stop_signal_.load(); }
  static constexpr int kMaxSignal = 32;

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
  void prepare_fresh_folder();
  void write_checkpoint_files();  // rank 0's part of save_checkpoint
  void resume_from(const std::string& path);
  void write_curves();
  // Helpers of train_step, in the order it calls them.
  std::vector<Tensor> next_views();
  void check_finite(double loss);
  void log_step(const StepStats& st, const std::map<std::string, double>& method_stats);
  // Helpers of run.
  void start_epoch();
  // What every rank agreed on after a step: stop (a signal or stop() on any rank), and whether the
  // --checkpoint-every-minutes timer of any rank is due.
  struct Vote {
    bool stop = false, checkpoint = false;
  };
  Vote vote();
  bool checkpoint_timer_due() const;
  bool evaluation_due(int64_t done_epoch) const;
  void evaluate_and_log(int64_t done_epoch, const Callbacks& cb);
  void checkpoint_epoch(int64_t done_epoch);
  int64_t last_step() const { return cfg_.max_steps > 0 ? std::min(total_steps_, cfg_.max_steps) : total_steps_; }

  TrainConfig cfg_;
  dist::CommPtr comm_;
  std::vector<Tensor> dp_params_;  // trainable parameters, in one order on every rank (gradient average)
  Device device_;
  RunData data_;
  std::shared_ptr<Method> method_;
  std::unique_ptr<nn::Optimizer> optimizer_;
  std::unique_ptr<data::Loader> loader_;
  nn::WarmupCosine lr_at_;  // the learning rate of each step
  int64_t steps_per_epoch_ = 0, total_steps_ = 0;
  int64_t step_ = 0;   // steps done
  int64_t epoch_ = 0;  // current epoch (from 0)
  std::atomic<bool> stop_{false};
  std::atomic<int> stop_signal_{0};
  std::chrono::steady_clock::time_point last_checkpoint_ = std::chrono::steady_clock::now();
  std::vector<double> curve_step_, curve_loss_, curve_lr_, curve_eval_epoch_, curve_knn_, curve_knn_online_;
};

}  // namespace resa::train
