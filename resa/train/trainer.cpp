#include "resa/train/trainer.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "resa/core/parallel.h"
#include "resa/dist/data_parallel.h"
#include "resa/encoder.h"
#include "resa/eval/features.h"
#include "resa/eval/knn.h"
#include "resa/eval/plot.h"
#include "resa/nn/io/checkpoint.h"
#include "resa/nn/optim/schedule.h"

namespace resa::train {
namespace fs = std::filesystem;

Trainer::Trainer(TrainConfig cfg, bool resume, dist::CommPtr comm)
    : cfg_(std::move(cfg)), comm_(comm ? std::move(comm) : dist::init()) {
  const int64_t world = comm_->world_size();
  std::string ckpt = checkpoint_path();
  bool resuming = resume && fs::exists(ckpt);
  if (resuming) {
    // The run's own configuration wins, except how it is executed now.
    TrainConfig saved = nlohmann::json::parse(nn::load_checkpoint(ckpt).config).get<TrainConfig>();
    saved.device = cfg_.device;
    saved.threads = cfg_.threads;
    saved.workers = cfg_.workers;
    saved.out = cfg_.out;
    saved.checkpoint_every_minutes = cfg_.checkpoint_every_minutes;
    cfg_ = saved;
  }
  if (cfg_.threads > 0) {
    set_num_threads(cfg_.threads);
  } else if (const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE"); local && world > 1) {
    // Ranks on one machine share its cores instead of each taking all of them.
    set_num_threads(std::max(1, get_num_threads() / std::max(1, std::atoi(local))));
  }
  device_ = Device::parse(cfg_.device);
  if (world > 1 && device_.is_cuda()) {
    // One GPU per rank: "cuda" means this rank's GPU on its machine; NCCL for the CUDA tensors.
    if (cfg_.device == "cuda" && cuda_device_count() > 0) {
      device_ = cuda_device(dist::local_rank() % cuda_device_count());
      cfg_.device = device_.str();
    }
    if (dist::nccl_compiled()) comm_ = dist::make_nccl(comm_, device_.index);
  }
  if (!resuming) prepare_fresh_folder();
  fs::create_directories(cfg_.out);
  data_ = open_data(cfg_);
  validate_data(cfg_, data_);
  method_ = build_method(cfg_, data_.channels);
  if (world > 1) {
    // One starting point on every rank, batch norm over the global batch, the loss over the global batch.
    for (auto& [name, m] : method_->modules()) {
      dist::broadcast_state(*m, *comm_);
      dist::enable_sync_batch_norm(*m, comm_);
    }
    method_->set_communicator(comm_);
  }
  for (auto& m : method_->trainable())
    for (auto& p : m->parameters()) dp_params_.push_back(p);

  optimizer_ = build_optimizer(cfg_, *method_);
  // Batches reach the GPU by asynchronous copies from pinned memory.
  loader_ = build_loader(cfg_, data_, comm_->rank(), world, /*pin_memory=*/device_.is_cuda());
  steps_per_epoch_ = loader_->batches_per_epoch();
  total_steps_ = steps_per_epoch_ * cfg_.epochs;
  // The official schedule: linspace(0, base, W) (both ends) then a cosine to final_lr_ratio x base.
  lr_at_ = nn::WarmupCosine{cfg_.base_lr(),
                            cfg_.final_lr_ratio * cfg_.base_lr(),
                            std::min(total_steps_, cfg_.warmup_epochs * steps_per_epoch_),
                            total_steps_,
                            0.0,
                            /*warmup_endpoint=*/true};
  if (resuming) {
    resume_from(ckpt);
  } else if (is_root() && fs::exists(cfg_.out + "/log.jsonl")) {
    // A fresh run starts a fresh log: appending to an earlier run's log in the same folder would mix
    // two runs' steps and evaluations in one file.
    errno = 0;
    std::ofstream f(cfg_.out + "/log.jsonl", std::ios::trunc);
    check_written(f, cfg_.out + "/log.jsonl");
  }
}

Trainer::~Trainer() = default;

std::string Trainer::checkpoint_path() const { return cfg_.out + "/checkpoint.safetensors"; }

void Trainer::prepare_fresh_folder() {
  // Never a mix of two runs in one folder: another run's checkpoint or weights stop a fresh run unless
  // it may overwrite them, and then all that run's files go (its epoch_NNN files too, which this run
  // would not all replace). A log or curves without any weights (a run killed before its first
  // checkpoint) are replaced without asking.
  if (!fs::is_directory(cfg_.out)) return;
  std::vector<fs::path> weights, others;
  for (const auto& e : fs::directory_iterator(cfg_.out)) {
    const std::string name = e.path().filename().string();
    const bool safetensors =
        name.ends_with(".safetensors") &&
        (name == "checkpoint.safetensors" || name.starts_with("encoder") || name.starts_with("epoch_"));
    // The run's other files, and the temporary files of a write that was cut short (NAME.tmp).
    const bool tmp = name.ends_with(".tmp") &&
                     (name.starts_with("checkpoint.") || name.starts_with("encoder") || name.starts_with("epoch_") ||
                      name.starts_with("log.jsonl") || name.starts_with("curves.png"));
    if (safetensors)
      weights.push_back(e.path());
    else if (name == "log.jsonl" || name == "curves.png" || tmp)
      others.push_back(e.path());
  }
  if (weights.empty()) return;
  std::sort(weights.begin(), weights.end());
  if (!cfg_.overwrite) {
    std::vector<std::string> names;
    for (auto& p : weights) names.push_back(p.filename().string());
    RESA_FAIL(
        "[train] {} holds another run ({}): pass --resume to continue it, --overwrite to replace it, or "
        "another --out",
        cfg_.out, fmt::join(names, ", "));
  }
  // Every rank sees the same folder; rank 0 deletes (the others may find the files already gone).
  if (!is_root()) return;
  for (auto& p : weights) fs::remove(p);
  for (auto& p : others) fs::remove(p);
}

void Trainer::save_checkpoint() {
  last_checkpoint_ = std::chrono::steady_clock::now();  // the --checkpoint-every-minutes timer restarts
  // The ranks hold the same weights: rank 0 writes, the others wait so that none runs ahead of a
  // checkpoint that is still being written.
  if (!is_root()) {
    comm_->barrier();
    return;
  }
  try {
    write_checkpoint_files();
  } catch (const Error& e) {
    // A full disk (or quota, or file size limit): each file is written to <name>.tmp and renamed, so
    // the previous checkpoint is still whole.
    RESA_FAIL(
        "[train] could not save the checkpoint of step {}: {}\n{} still holds the previous checkpoint; "
        "free some space, then run again with --resume",
        step_, e.what(), checkpoint_path());
  }
  comm_->barrier();
}

void Trainer::write_checkpoint_files() {
  nn::Checkpoint ck;
  for (auto& [name, m] : method_->modules()) ck.put(name, m->state_dict());
  ck.put("optim", optimizer_->state_dict());
  ck.epoch = epoch_;
  ck.step = step_;
  ck.rng_seed = cfg_.seed;
  ck.config = nlohmann::json(cfg_).dump();
  nn::save_checkpoint(checkpoint_path(), ck);
  // The evaluated encoder alone, with torchvision's names, for users and for PyTorch; and the online
  // encoder beside it where that is another network (ReSA's teacher lags it at short budgets).
  // The metadata holds what resa::Encoder::load needs to rebuild and feed it (resa/encoder.h).
  EncoderInfo info;
  info.arch = cfg_.arch;
  info.in_channels = data_.channels;
  info.stem_padding = cfg_.stem_padding;
  info.image_size = data_.eval.image_size;
  info.mean = data_.eval.mean;
  info.std = data_.eval.std;
  const bool two = method_->evaluates_teacher();
  info.role = two ? "teacher" : "online";
  nn::save_state_dict(cfg_.out + "/encoder.safetensors", *method_->eval_encoder(), encoder_metadata(info));
  if (two) {
    info.role = "online";
    nn::save_state_dict(cfg_.out + "/encoder_online.safetensors", *method_->online_encoder(), encoder_metadata(info));
  }
}

void Trainer::resume_from(const std::string& path) {
  nn::Checkpoint ck = nn::load_checkpoint(path);
  for (auto& [name, m] : method_->modules()) m->load_state_dict(ck.get(name), true);
  optimizer_->load_state_dict(ck.get("optim"));
  step_ = ck.step;
  epoch_ = step_ / steps_per_epoch_;
  if (!is_root()) return;  // the log and curves are rank 0's
  // Keep the log up to the checkpoint's step (a killed run may have logged steps past it) and
  // rebuild the curves from it.
  std::string log_path = cfg_.out + "/log.jsonl";
  std::vector<std::string> kept;
  std::ifstream in(log_path);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("step") || j["step"].get<int64_t>() > step_) continue;
    kept.push_back(line);
    if (j.value("type", "") == "step") {
      curve_step_.push_back(j["step"].get<double>());
      curve_loss_.push_back(j["loss"].get<double>());
      curve_lr_.push_back(j["lr"].get<double>());
    } else if (j.value("type", "") == "eval") {
      curve_eval_epoch_.push_back(j["epoch"].get<double>());
      curve_knn_.push_back(100.0 * j["knn_top1"].get<double>());
      curve_knn_online_.push_back(100.0 * j.value("knn_online_top1", j["knn_top1"].get<double>()));
    }
  }
  in.close();
  // Beside, then renamed over: a full disk leaves the old log whole.
  const std::string tmp = log_path + ".tmp";
  errno = 0;
  std::ofstream out(tmp, std::ios::trunc);
  for (auto& l : kept) out << l << "\n";
  try {
    check_written(out, tmp);
  } catch (const Error&) {
    fs::remove(tmp);
    throw;
  }
  fs::rename(tmp, log_path);
}

void check_written(std::ofstream& f, const std::string& path) {
  if (f.is_open()) f.close();  // flushes: a full disk shows here if not at a write
  if (!f.fail()) return;
  const int e = errno;  // the callers clear it before opening
  RESA_FAIL("[train] cannot write {}{}{}", path, e ? ": " : "", e ? std::strerror(e) : "");
}

void Trainer::log_json(const std::string& line) {
  if (!is_root()) return;
  const std::string path = cfg_.out + "/log.jsonl";
  errno = 0;
  std::ofstream f(path, std::ios::app);
  f << line << "\n";
  check_written(f, path);
}

KnnScores Trainer::evaluate_knn() {
  const EvalData& ev = data_.eval;
  auto knn_of = [&](nn::Module& enc) {
    Tensor ftr = extract_features(enc, *ev.train, ev.mean, ev.std, ev.image_size, device_);
    Tensor fte = extract_features(enc, *ev.test, ev.mean, ev.std, ev.image_size, device_);
    return knn_classify(ftr, dataset_labels(*ev.train), fte, dataset_labels(*ev.test)).top1;
  };
  KnnScores s;
  s.teacher = knn_of(*method_->eval_encoder());
  s.online = method_->evaluates_teacher() ? knn_of(*method_->online_encoder()) : s.teacher;
  return s;
}

void Trainer::write_curves() {
  if (!is_root()) return;
  // The raw loss in a light tint under its moving average (a twentieth of the steps so far), the
  // learning rate from 0, kNN accuracy on 0-100%; the run's recipe in the title.
  std::vector<plot::Panel> panels;
  const auto window = std::max<int64_t>(1, static_cast<int64_t>(curve_loss_.size()) / 20);
  plot::Panel loss{"TRAINING LOSS", "STEP", {{"", curve_step_, curve_loss_, plot::color(0)}}, false};
  if (window >= 2) {
    loss.series[0].color = plot::tint(plot::color(0));
    loss.series.push_back(
        {fmt::format("MEAN OF {}", window), curve_step_, plot::smooth(curve_loss_, window), plot::color(0)});
  }
  loss.y_from_zero = true;
  panels.push_back(loss);
  plot::Panel lr{"LEARNING RATE", "STEP", {{"", curve_step_, curve_lr_, plot::color(1)}}, false};
  lr.y_from_zero = true;
  panels.push_back(lr);
  plot::Panel knn{"KNN K=5 TOP-1 (%)", "EPOCH", {{"TEACHER", curve_eval_epoch_, curve_knn_, plot::color(2)}}, false};
  if (method_->evaluates_teacher())
    knn.series.push_back({"ONLINE", curve_eval_epoch_, curve_knn_online_, plot::color(3)});
  knn.y_lo = 0;
  knn.y_hi = 100;
  panels.push_back(knn);
  const std::string width = cfg_.width > 0 ? fmt::format(" WIDTH {}", cfg_.width) : "";
  const std::string title = fmt::format("{} ON {}: {}{}, BATCH {}, LR {:g}, {} EPOCHS", cfg_.method, cfg_.dataset,
                                        cfg_.arch, width, cfg_.batch_size, cfg_.base_lr(), cfg_.epochs);
  // stb's PNG writer does not check its fwrite: write beside, check the file ends with the PNG
  // trailer (the IEND chunk), then rename over the old curves.
  const std::string path = cfg_.out + "/curves.png", tmp = path + ".tmp";
  plot::write_png(tmp, panels, 3, 520, 340, title);
  static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
  unsigned char tail[12] = {};
  std::ifstream in(tmp, std::ios::binary | std::ios::ate);
  const bool whole = in && in.tellg() >= 12 && in.seekg(-12, std::ios::end) &&
                     in.read(reinterpret_cast<char*>(tail), 12) && std::memcmp(tail, iend, 12) == 0;
  in.close();
  if (!whole) {
    fs::remove(tmp);
    RESA_FAIL("[train] cannot write {}: the file came out truncated (is the disk full?)", path);
  }
  fs::rename(tmp, path);
}

// ---------------------------------------------------------------- one step
// The step reads in the order the data flows. A teacher (ReSA's, BYOL's target) follows the online
// network by EMA at the start of the method's forward, before its own forward pass: the official order,
// in which step k's teacher is the EMA up to the weights after step k - 1. It stays inside forward
// because the methods' tests drive forward alone, and moving it after optimizer_->step() would put the
// teacher one update ahead of what the checkpoint and the evaluation of that step have always seen.
StepStats Trainer::train_step() {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Tensor> views = next_views();  // the batch's augmented views, on the device
  const double lr = lr_at_(step_);
  optimizer_->set_lr(lr);
  optimizer_->zero_grad();
  MethodOutput out = method_->forward(views, StepContext{step_, total_steps_});  // (EMA teacher), forward, loss
  const double loss = out.loss.item();
  check_finite(loss);
  out.loss.backward();
  dist::average_gradients(dp_params_, *comm_);  // data parallel: the mean of the ranks' gradients
  optimizer_->step();
  ++step_;
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  StepStats st{step_,  total_steps_,
               epoch_, loss,
               lr,     out.stats.count("ema_momentum") ? out.stats["ema_momentum"] : 0.0,
               ms,     1000.0 * static_cast<double>(cfg_.batch_size) / ms};
  log_step(st, out.stats);
  return st;
}

std::vector<Tensor> Trainer::next_views() {
  std::optional<data::Batch> batch = loader_->next();
  RESA_CHECK(batch.has_value(), "[train] loader ended epoch {} after {} of {} batches", epoch_,
             step_ % steps_per_epoch_, steps_per_epoch_);
  std::vector<Tensor> views;
  for (auto& v : batch->views) views.push_back(v.to(device_));
  return views;
}

void Trainer::check_finite(double loss) {
  if (std::isfinite(loss)) return;
  log_json(nlohmann::json{{"type", "error"}, {"step", step_}, {"loss", loss}}.dump());
  RESA_FAIL(
      "[train] the loss became {} at step {} (epoch {}); stopped without saving, the last good "
      "checkpoint is {} (try a lower --lr)",
      loss, step_ + 1, epoch_ + 1, checkpoint_path());
}

void Trainer::log_step(const StepStats& st, const std::map<std::string, double>& method_stats) {
  nlohmann::json j{{"type", "step"},  {"step", st.step}, {"epoch", st.epoch + 1},
                   {"loss", st.loss}, {"lr", st.lr},     {"ms", st.step_ms}};
  for (const auto& [key, value] : method_stats) j[key] = value;  // e.g. EMA momentum, VICReg's three terms
  log_json(j.dump());
  curve_step_.push_back(static_cast<double>(st.step));
  curve_loss_.push_back(st.loss);
  curve_lr_.push_back(st.lr);
}

// ---------------------------------------------------------------- the run
bool Trainer::run(const Callbacks& cb_all) {
  // Only rank 0 reports (a data-parallel run would otherwise print every line world times).
  const Callbacks cb = is_root() ? cb_all : Callbacks{};
  auto message = [&](const std::string& s) {
    if (cb.on_message) cb.on_message(s);
  };
  const int64_t stop_at = last_step();
  if (step_ > 0) message(fmt::format("resumed at step {} (epoch {})", step_, epoch_ + 1));
  last_checkpoint_ = std::chrono::steady_clock::now();  // --checkpoint-every-minutes counts from here
  method_->train(true);
  while (step_ < stop_at) {
    epoch_ = step_ / steps_per_epoch_;
    start_epoch();
    double epoch_loss = 0;
    int64_t epoch_steps = 0;
    bool stopping = false;  // what every rank agreed on after the last step
    while (!stopping && step_ < stop_at && step_ / steps_per_epoch_ == epoch_) {
      StepStats st = train_step();
      epoch_loss += st.loss;
      ++epoch_steps;
      if (cb.on_step) cb.on_step(st);
      const Vote v = vote();
      stopping = v.stop;
      // The timer's checkpoint, within an epoch: the one a stop or the epoch's end writes comes next anyway.
      if (v.checkpoint && !stopping && step_ % steps_per_epoch_ != 0 && step_ < stop_at) {
        save_checkpoint();
        message(fmt::format("timed checkpoint at step {} written to {}", step_, checkpoint_path()));
      }
    }
    const int64_t done_epoch = epoch_ + 1;
    const bool epoch_done = step_ % steps_per_epoch_ == 0;
    if (stopping && !epoch_done) {
      // Stopped mid-epoch: a checkpoint of exactly this step, from which --resume continues.
      save_checkpoint();
      write_curves();
      message(fmt::format("stopped at step {}; checkpoint written to {}", step_, checkpoint_path()));
      return false;
    }
    if (epoch_done && evaluation_due(done_epoch)) evaluate_and_log(done_epoch, cb);
    checkpoint_epoch(done_epoch);
    message(fmt::format("epoch {} done: mean loss {:.4f}, checkpoint {}", done_epoch,
                        epoch_loss / static_cast<double>(epoch_steps), checkpoint_path()));
    if (stopping) return step_ >= stop_at;
  }
  return true;
}

void Trainer::start_epoch() {
  loader_->start_epoch(epoch_);
  for (int64_t skip = step_ % steps_per_epoch_; skip > 0; --skip) loader_->next();  // mid-epoch resume
}

bool Trainer::checkpoint_timer_due() const {
  if (cfg_.checkpoint_every_minutes <= 0) return false;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_checkpoint_).count();
  return s >= 60.0 * cfg_.checkpoint_every_minutes;
}

Trainer::Vote Trainer::vote() {
  // A stop request (a signal) may reach the ranks at different steps, and their clocks differ: they
  // agree every step, on a stop when any rank has one, on the signal with the lowest number any rank
  // received (the exit status), and on a timed checkpoint when any rank's timer is due.
  if (comm_->world_size() == 1) return {stop_.load(), checkpoint_timer_due()};
  // [0]: stop, [1]: timer due, [2 + s]: signal s received.
  std::vector<double> mine(2 + kMaxSignal, 0.0);
  mine[0] = stop_.load() ? 1.0 : 0.0;
  mine[1] = checkpoint_timer_due() ? 1.0 : 0.0;
  if (const int sig = stop_signal_.load(); sig > 0) mine[2 + sig] = 1.0;
  Tensor t = from_vector(mine, {static_cast<int64_t>(mine.size())}, TensorOptions().dtype(DType::Float64));
  comm_->all_reduce_sum(t);
  std::vector<double> all = t.to_vector<double>();
  Vote v{all[0] > 0, all[1] > 0};
  if (v.stop) stop_.store(true);
  for (int sig = 1; sig < kMaxSignal; ++sig)
    if (all[2 + sig] > 0) {
      stop_signal_.store(sig);
      break;
    }
  return v;
}

bool Trainer::evaluation_due(int64_t done_epoch) const {
  // Rank 0 alone evaluates (the ranks hold the same weights); every eval_every epochs and at the end.
  return is_root() && ((cfg_.eval_every > 0 && done_epoch % cfg_.eval_every == 0) || step_ >= last_step());
}

void Trainer::evaluate_and_log(int64_t done_epoch, const Callbacks& cb) {
  KnnScores knn = evaluate_knn();
  log_json(nlohmann::json{{"type", "eval"},
                          {"step", step_},
                          {"epoch", done_epoch},
                          {"knn_top1", knn.teacher},
                          {"knn_online_top1", knn.online}}
               .dump());
  curve_eval_epoch_.push_back(static_cast<double>(done_epoch));
  curve_knn_.push_back(100.0 * knn.teacher);
  curve_knn_online_.push_back(100.0 * knn.online);
  if (cb.on_eval) cb.on_eval(EvalStats{done_epoch, step_, knn});
  method_->train(true);
}

void Trainer::checkpoint_epoch(int64_t done_epoch) {
  save_checkpoint();
  if (cfg_.keep_epoch_checkpoints && step_ % steps_per_epoch_ == 0 && is_root())
    fs::copy_file(checkpoint_path(), fmt::format("{}/epoch_{:03d}.safetensors", cfg_.out, done_epoch),
                  fs::copy_options::overwrite_existing);
  write_curves();
}

}  // namespace resa::train
