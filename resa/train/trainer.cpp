#include "resa/train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "resa/autograd/functions.h"
#include "resa/core/parallel.h"
#include "resa/nn/io/checkpoint.h"
#include "resa/nn/mlp.h"
#include "resa/nn/optim/schedule.h"
#include "resa/nn/resnet.h"
#include "resa/eval/knn.h"
#include "resa/methods/factory.h"
#include "resa/methods/resa.h"
#include "resa/dist/data_parallel.h"
#include "resa/train/plot.h"

namespace resa::train {
namespace fs = std::filesystem;

// ---------------------------------------------------------------- data
RunData open_data(const TrainConfig& cfg) {
  RunData rd;
  data::DatasetOptions train_opts;
  if (cfg.train_subset > 0) train_opts.subset_random(cfg.train_subset, cfg.seed);
  data::DatasetOptions eval_opts;
  if (cfg.eval_subset > 0) eval_opts.subset(cfg.eval_subset);
  std::string dir = cfg.data;
  if (cfg.dataset == "fashion-mnist" || cfg.dataset == "mnist") {
    if (dir.empty()) dir = "/usr/share/datasets/fashion-mnist";
    rd.train = data::load_mnist_dir(dir, true, train_opts);
    rd.eval.train = data::load_mnist_dir(dir, true, eval_opts);
    rd.eval.test = data::load_mnist_dir(dir, false, eval_opts);
    // Fashion-MNIST pixel statistics (of pixels / 255); MNIST's are close enough to serve.
    rd.eval.mean = {0.2860f};
    rd.eval.std = {0.3530f};
  } else if (cfg.dataset == "cifar10" || cfg.dataset == "cifar100") {
    RESA_CHECK(!dir.empty(), "[train] --data must name the CIFAR folder for dataset {}", cfg.dataset);
    bool c10 = cfg.dataset == "cifar10";
    auto load = [&](bool train, const data::DatasetOptions& o) {
      return c10 ? data::load_cifar10(dir, train, o) : data::load_cifar100(dir, train, false, o);
    };
    rd.train = load(true, train_opts);
    rd.eval.train = load(true, eval_opts);
    rd.eval.test = load(false, eval_opts);
    rd.eval.mean = c10 ? data::kCifar10Mean : data::kCifar100Mean;
    rd.eval.std = c10 ? data::kCifar10Std : data::kCifar100Std;
  } else if (cfg.dataset == "folder") {
    RESA_CHECK(!dir.empty() && fs::is_directory(dir + "/train") && fs::is_directory(dir + "/test"),
               "[train] --data {} must hold train/ and test/ folders with one subfolder per class", dir);
    auto fo = data::FolderOptions().channels(3);
    rd.train = data::load_image_folder(dir + "/train", fo, train_opts);
    rd.eval.train = data::load_image_folder(dir + "/train", fo, eval_opts);
    rd.eval.test = data::load_image_folder(dir + "/test", fo, eval_opts);
    rd.eval.mean = {0.485f, 0.456f, 0.406f};
    rd.eval.std = {0.229f, 0.224f, 0.225f};
  } else {
    RESA_FAIL("[train] unknown dataset '{}' (cifar10, cifar100, fashion-mnist, mnist or folder)", cfg.dataset);
  }
  rd.channels = rd.train->channels();
  int64_t native = rd.train->height() > 0 ? rd.train->height() : 32;
  rd.eval.image_size = cfg.image_size > 0 ? cfg.image_size : native;
  return rd;
}

// ---------------------------------------------------------------- model
std::shared_ptr<Method> build_method(const TrainConfig& cfg, int64_t in_channels) {
  double base_width = cfg.arch == "resnet_small" ? 32.0 : 64.0;
  auto ropts = nn::ResNetOptions()
                   .arch(cfg.arch)
                   .stem(nn::ResNetStem::Cifar)
                   .in_channels(in_channels)
                   .width_multiplier(cfg.width > 0 ? static_cast<double>(cfg.width) / base_width : 1.0)
                   .zero_init_residual(cfg.zero_init_residual_on())
                   .stem_padding(cfg.stem_padding)
                   .seed(cfg.seed);
  auto encoder = nn::make_resnet(ropts);
  Generator gen(cfg.seed ^ 0x9E3779B97F4A7C15ull);
  auto projector = std::make_shared<nn::Projector>(encoder->feature_dim(), cfg.mlp, projector_last_bn(cfg.method),
                                                   /*bias=*/true, &gen);
  MethodSpec spec;
  spec.name = cfg.method;
  spec.variant = cfg.variant;
  spec.temperature = cfg.temperature;
  spec.ema_momentum = cfg.ema_momentum;
  RESA_CHECK(cfg.loss_sides == 1 || cfg.loss_sides == 2, "[train] --loss-sides must be 1 or 2, got {}", cfg.loss_sides);
  spec.symmetric_loss = cfg.loss_sides == 2;
  spec.sinkhorn_eps = cfg.sinkhorn_eps;
  spec.sinkhorn_iters = cfg.sinkhorn_iters;
  spec.seed = cfg.seed;
  spec.simclr_temperature = cfg.simclr_temperature;
  spec.byol_momentum = cfg.byol_momentum;
  spec.byol_pred_hidden = cfg.byol_pred_hidden;
  spec.swav_temperature = cfg.swav_temperature;
  spec.swav_prototypes = cfg.swav_prototypes;
  spec.swav_freeze_iters = cfg.swav_freeze_iters;
  spec.vicreg_sim = cfg.vicreg_sim;
  spec.vicreg_var = cfg.vicreg_var;
  spec.vicreg_cov = cfg.vicreg_cov;
  auto m = make_method(spec, encoder, projector);
  m->to(Device::parse(cfg.device));
  return m;
}

// ---------------------------------------------------------------- evaluation helpers
Tensor dataset_labels(const data::Dataset& ds) {
  Tensor y = Tensor::empty({ds.size()}, DType::Int64);
  int64_t* p = y.data<int64_t>();
  for (int64_t i = 0; i < ds.size(); ++i) p[i] = ds.label(i);
  return y;
}

namespace {
// Images [b, e) as a normalised (n, C, S, S) float batch; images of another size are resized
// (bilinear) to S, as the un-augmented evaluation transform does.
Tensor image_batch(const data::Dataset& ds, int64_t b, int64_t e, const std::vector<float>& mean,
                   const std::vector<float>& std, int64_t size) {
  const int64_t c = ds.channels();
  Tensor x = Tensor::empty({e - b, c, size, size});
  float* out = x.data<float>();
  parallel_for(e - b, 8, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      data::Image img = ds.image(b + i);
      float* dst = out + i * c * size * size;
      if (img.height == size && img.width == size) {
        for (int64_t ch = 0; ch < c; ++ch)
          for (int64_t y = 0; y < size; ++y)
            for (int64_t xx = 0; xx < size; ++xx) dst[(ch * size + y) * size + xx] = img.at(ch, y, xx) / 255.0f;
      } else {
        data::resized_crop(img, data::CropBox{0, 0, img.height, img.width}, size, size, data::Interp::Bilinear, dst);
      }
      data::normalize(dst, c, size, size, mean, std);
    }
  });
  return x;
}
}  // namespace

Tensor extract_features(nn::Module& encoder, const data::Dataset& ds, const std::vector<float>& mean,
                        const std::vector<float>& std, int64_t image_size, Device device, int64_t batch) {
  bool was_training = encoder.is_training();
  encoder.eval();
  NoGradGuard ng;
  std::vector<Tensor> parts;
  for (int64_t b = 0; b < ds.size(); b += batch) {
    int64_t e = std::min(ds.size(), b + batch);
    parts.push_back(encoder.forward(image_batch(ds, b, e, mean, std, image_size).to(device)).to(kCPU));
  }
  encoder.train(was_training);
  return cat(parts, 0);
}

// ---------------------------------------------------------------- trainer
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
  fs::create_directories(cfg_.out);
  data_ = open_data(cfg_);
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

  // Optimizer over the trainable modules: plain SGD on every parameter (the official recipe), or
  // LARS, which leaves 1-D parameters (biases, batch-norm) out of adaptation and weight decay.
  std::vector<nn::ParamGroup> groups;
  for (auto& m : method_->trainable()) {
    auto g = nn::make_group(*m, nn::ParamGroup()
                                    .set_lr(cfg_.base_lr())
                                    .set_weight_decay(cfg_.weight_decay)
                                    .set_momentum(cfg_.sgd_momentum));
    groups.push_back(g);
  }
  if (cfg_.optimizer == "sgd")
    optimizer_ = std::make_unique<nn::SGD>(groups);
  else if (cfg_.optimizer == "lars")
    optimizer_ = std::make_unique<nn::LARS>(groups);
  else
    RESA_FAIL("[train] optimizer '{}' must be sgd or lars", cfg_.optimizer);

  const int64_t size = data_.eval.image_size;
  std::vector<data::ViewConfig> views{data::ViewConfig::weak(size).normalize(data_.eval.mean, data_.eval.std),
                                      data::ViewConfig::strong(size).normalize(data_.eval.mean, data_.eval.std)};
  RESA_CHECK(data_.train->size() >= cfg_.batch_size, "[train] batch size {} is larger than the {} training images",
             cfg_.batch_size, data_.train->size());
  RESA_CHECK(cfg_.batch_size % world == 0, "[train] batch size {} is not divisible by the {} ranks",
             cfg_.batch_size, world);
  loader_ = std::make_unique<data::Loader>(data_.train, views,
                                           data::LoaderOptions()
                                               .batch_size(cfg_.batch_size / world)
                                               .shard(comm_->rank(), world)
                                               .num_workers(std::max<int64_t>(1, cfg_.workers))
                                               .seed(cfg_.seed)
                                               .drop_last(true)
                                               .shuffle(true)
                                               // batches reach the GPU by asynchronous copies
                                               .pin_memory(device_.is_cuda()));
  steps_per_epoch_ = loader_->batches_per_epoch();
  total_steps_ = steps_per_epoch_ * cfg_.epochs;
  if (resuming) {
    resume_from(ckpt);
  } else if (is_root() && fs::exists(cfg_.out + "/log.jsonl")) {
    // A fresh run starts a fresh log: appending to an earlier run's log in the same folder would mix
    // two runs' steps and evaluations in one file.
    std::ofstream(cfg_.out + "/log.jsonl", std::ios::trunc);
  }
}

Trainer::~Trainer() = default;

std::string Trainer::checkpoint_path() const { return cfg_.out + "/checkpoint.safetensors"; }

void Trainer::save_checkpoint() {
  // The ranks hold the same weights: rank 0 writes, the others wait so that none runs ahead of a
  // checkpoint that is still being written.
  if (!is_root()) {
    comm_->barrier();
    return;
  }
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
  std::map<std::string, std::string> meta{{"arch", cfg_.arch},
                                          {"in_channels", std::to_string(data_.channels)},
                                          {"stem_padding", std::to_string(cfg_.stem_padding)}};
  const bool two = method_->online_encoder() != method_->eval_encoder();
  meta["role"] = two ? "teacher" : "online";
  nn::save_state_dict(cfg_.out + "/encoder.safetensors", *method_->eval_encoder(), meta);
  if (two) {
    meta["role"] = "online";
    nn::save_state_dict(cfg_.out + "/encoder_online.safetensors", *method_->online_encoder(), meta);
  }
  comm_->barrier();
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
  std::ofstream out(log_path, std::ios::trunc);
  for (auto& l : kept) out << l << "\n";
}

void Trainer::log_json(const std::string& line) {
  if (!is_root()) return;
  std::ofstream f(cfg_.out + "/log.jsonl", std::ios::app);
  f << line << "\n";
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
  s.online = method_->online_encoder() == method_->eval_encoder() ? s.teacher : knn_of(*method_->online_encoder());
  return s;
}

void Trainer::write_curves() {
  if (!is_root()) return;
  std::vector<plot::Panel> panels;
  panels.push_back({"TRAINING LOSS", "STEP", {{"LOSS", curve_step_, curve_loss_, plot::color(0)}}, false});
  panels.push_back({"LEARNING RATE", "STEP", {{"LR", curve_step_, curve_lr_, plot::color(1)}}, false});
  std::vector<plot::Series> knn{{"TEACHER", curve_eval_epoch_, curve_knn_, plot::color(2)}};
  if (method_->online_encoder() != method_->eval_encoder())
    knn.push_back({"ONLINE", curve_eval_epoch_, curve_knn_online_, plot::color(3)});
  panels.push_back({"KNN K=5 TOP-1 (%)", "EPOCH", knn, false});
  plot::write_png(cfg_.out + "/curves.png", panels, 3, 520, 340);
}

bool Trainer::run(const Callbacks& cb_all) {
  // Only rank 0 reports (a data-parallel run would otherwise print every line world times).
  const Callbacks cb = is_root() ? cb_all : Callbacks{};
  auto message = [&](const std::string& s) {
    if (cb.on_message) cb.on_message(s);
  };
  // A stop request (SIGINT) may reach the ranks at different steps: they agree on it every step.
  auto stop_requested = [&] {
    if (comm_->world_size() == 1) return stop_.load();
    Tensor flag = full({1}, stop_.load() ? 1.0 : 0.0, TensorOptions().dtype(DType::Float64));
    comm_->all_reduce_sum(flag);
    if (flag.item() > 0) stop_.store(true);
    return flag.item() > 0;
  };
  // The official schedule: linspace(0, base, W) (both ends) then a cosine to final_lr_ratio x base.
  nn::WarmupCosine lr_at{cfg_.base_lr(), cfg_.final_lr_ratio * cfg_.base_lr(),
                         std::min(total_steps_, cfg_.warmup_epochs * steps_per_epoch_), total_steps_, 0.0,
                         /*warmup_endpoint=*/true};
  const int64_t stop_at = cfg_.max_steps > 0 ? std::min(total_steps_, cfg_.max_steps) : total_steps_;
  if (step_ > 0) message(fmt::format("resumed at step {} (epoch {})", step_, epoch_ + 1));
  method_->train(true);
  bool finished = true;
  bool stopping = false;  // what every rank agreed on at the end of the last step
  while (step_ < stop_at) {
    epoch_ = step_ / steps_per_epoch_;
    loader_->start_epoch(epoch_);
    for (int64_t skip = step_ % steps_per_epoch_; skip > 0; --skip) loader_->next();  // mid-epoch resume
    double epoch_loss = 0;
    int64_t epoch_steps = 0;
    while (step_ < stop_at && step_ / steps_per_epoch_ == epoch_) {
      auto t0 = std::chrono::steady_clock::now();
      std::optional<data::Batch> batch = loader_->next();
      RESA_CHECK(batch.has_value(), "[train] loader ended epoch {} after {} of {} batches", epoch_,
                 step_ % steps_per_epoch_, steps_per_epoch_);
      std::vector<Tensor> views;
      for (auto& v : batch->views) views.push_back(v.to(device_));
      const double lr = lr_at(step_);
      optimizer_->set_lr(lr);
      optimizer_->zero_grad();
      MethodOutput out = method_->forward(views, StepContext{step_, total_steps_});
      const double loss = out.loss.item();
      if (!std::isfinite(loss)) {
        log_json(nlohmann::json{{"type", "error"}, {"step", step_}, {"loss", loss}}.dump());
        RESA_FAIL("[train] the loss became {} at step {} (epoch {}); stopped without saving, the last good "
                  "checkpoint is {} (try a lower --lr)",
                  loss, step_ + 1, epoch_ + 1, checkpoint_path());
      }
      out.loss.backward();
      dist::average_gradients(dp_params_, *comm_);
      optimizer_->step();
      ++step_;
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      StepStats st{step_, total_steps_, epoch_, loss, lr, out.stats.count("ema_momentum") ? out.stats["ema_momentum"] : 0.0,
                   ms, 1000.0 * static_cast<double>(cfg_.batch_size) / ms};
      nlohmann::json j{{"type", "step"}, {"step", step_}, {"epoch", epoch_ + 1}, {"loss", loss}, {"lr", lr},
                       {"ms", ms}};
      for (const auto& [key, value] : out.stats) j[key] = value;  // e.g. EMA momentum, VICReg's three terms
      log_json(j.dump());
      curve_step_.push_back(static_cast<double>(step_));
      curve_loss_.push_back(loss);
      curve_lr_.push_back(lr);
      epoch_loss += loss;
      ++epoch_steps;
      if (cb.on_step) cb.on_step(st);
      if ((stopping = stop_requested())) break;
    }
    const bool epoch_done = step_ % steps_per_epoch_ == 0;
    if (stopping && !epoch_done) {
      save_checkpoint();
      write_curves();
      message(fmt::format("stopped at step {}; checkpoint written to {}", step_, checkpoint_path()));
      finished = false;
      break;
    }
    const int64_t done_epoch = epoch_ + 1;
    const bool last = step_ >= stop_at;
    if (is_root() && epoch_done && ((cfg_.eval_every > 0 && done_epoch % cfg_.eval_every == 0) || last)) {
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
    save_checkpoint();
    if (cfg_.keep_epoch_checkpoints && epoch_done && is_root())
      fs::copy_file(checkpoint_path(), fmt::format("{}/epoch_{:03d}.safetensors", cfg_.out, done_epoch),
                    fs::copy_options::overwrite_existing);
    write_curves();
    if (epoch_steps > 0)
      message(fmt::format("epoch {} done: mean loss {:.4f}, checkpoint {}", done_epoch,
                          epoch_loss / static_cast<double>(epoch_steps), checkpoint_path()));
    if (stopping) {
      finished = step_ >= stop_at;
      break;
    }
  }
  return finished;
}

}  // namespace resa::train
