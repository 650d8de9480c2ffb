// Everything that defines a training run. Saved (as JSON) in every checkpoint, so a resumed run
// continues with exactly the configuration it started with.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace resa::train {

struct TrainConfig {
  // data
  std::string dataset = "cifar10";  // cifar10 | cifar100 | fashion-mnist | folder
  std::string data;                 // path (default for fashion-mnist: Debian's dataset-fashion-mnist folder)
  int64_t train_subset = 0;         // 0: all training images; N: a seeded random N
  int64_t eval_subset = 0;          // 0: all; N: first N of the train/test splits for kNN / probe
  int64_t image_size = 0;           // 0: the dataset's own size (32 for CIFAR, 28 for Fashion-MNIST)
  int64_t workers = 2;
  // model
  std::string arch = "resnet18";    // resnet18 | resnet34 | resnet50 | resnet_small
  int64_t width = 0;                // 0: the architecture's default (64; 32 for resnet_small)
  std::string mlp = "2048-2048-512";
  // Zero-init of the last BN of every residual branch: "auto" is the official rule (off for resnet18
  // and resnet_small, which is made of the same BasicBlock; on for resnet34 and resnet50), or on | off.
  std::string zero_init_residual = "auto";
  int64_t stem_padding = 2;          // CIFAR stem conv padding; 2 = the official code's extra input pad of 1
  // method
  std::string method = "resa";
  std::string variant = "momentum";  // momentum | no-momentum
  double temperature = 0.4;
  double sinkhorn_eps = 0.05;
  int64_t sinkhorn_iters = 3;
  double ema_momentum = 0.996;       // base EMA momentum, cosine to 1
  int64_t loss_sides = 1;            // 1: CE(A, s) as the official code; 2: (CE(A, s) + CE(A^T, s^T)) / 2
  // baselines (resa/methods/{simclr,byol,swav,vicreg}.h); Sinkhorn eps/iters above are shared with swav
  double simclr_temperature = 0.2;
  double byol_momentum = 0.99;       // base momentum of BYOL's target, cosine to 1
  int64_t byol_pred_hidden = 4096;
  double swav_temperature = 0.1;
  int64_t swav_prototypes = 3000;
  int64_t swav_freeze_iters = 313;   // steps without prototype gradients
  double vicreg_sim = 25.0;
  double vicreg_var = 25.0;
  double vicreg_cov = 1.0;
  // optimisation
  int64_t epochs = 1000;
  int64_t batch_size = 256;
  double lr = 0.0;                   // 0: 0.3 x batch / 256
  double final_lr_ratio = 0.1;
  int64_t warmup_epochs = 2;
  double weight_decay = 1e-4;
  std::string optimizer = "sgd";    // sgd | lars
  double sgd_momentum = 0.9;
  // run
  std::string device = "cpu";
  int threads = 0;                   // 0: all cores
  uint64_t seed = 0;
  int64_t eval_every = 1;            // epochs between kNN evaluations (0: only at the end)
  int64_t max_steps = 0;             // 0: no limit (stop early after this many steps in total)
  std::string out = "runs/resa";
  bool keep_epoch_checkpoints = false;  // also keep OUT/epoch_NNN.safetensors after each epoch

  double base_lr() const { return lr > 0 ? lr : 0.3 * static_cast<double>(batch_size) / 256.0; }
  // zero_init_residual resolved for arch ("auto": the official rule); throws on another value.
  bool zero_init_residual_on() const;
};

void to_json(nlohmann::json& j, const TrainConfig& c);
void from_json(const nlohmann::json& j, TrainConfig& c);

}  // namespace resa::train
