// Everything that defines a training run. Saved (as JSON) in every checkpoint, so a resumed run
// continues with exactly the configuration it started with.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "resa/methods/factory.h"

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
  std::string arch = "resnet18";  // resnet18 | resnet34 | resnet50 | resnet_small
  int64_t width = 0;              // 0: the architecture's default (64; 32 for resnet_small)
  std::string mlp = "2048-2048-512";
  // Zero-init of the last BN of every residual branch: "auto" is the official rule (off for resnet18
  // and resnet_small, which is made of the same BasicBlock; on for resnet34 and resnet50), or on | off.
  std::string zero_init_residual = "auto";
  int64_t stem_padding = 2;  // CIFAR stem conv padding; 2 = the official code's extra input pad of 1
  // method: the name, and every method's options. The options structs (resa/methods/<name>.h) hold
  // the defaults; method_settings() below names each setting for the command line and the saved config.
  std::string method = "resa";  // resa | simclr | byol | swav | vicreg
  ReSAOptions resa;
  SimCLROptions simclr;
  BYOLOptions byol;
  SwAVOptions swav;
  VICRegOptions vicreg;
  // ReSA's loss form, 1: CE(A, s) as the official code; 2: (CE(A, s) + CE(A^T, s^T)) / 2. It stays a
  // field of its own, beside stem_padding and zero_init_residual, because the three are the recipe
  // audit's switches that older checkpoints migrate together (config.cpp); build_method sets
  // resa.loss_.symmetric_ from it (that field of `resa` above is not read). Default: ReSA's own.
  int64_t loss_sides = ReSALossOptions{}.symmetric_ ? 2 : 1;
  // optimisation
  int64_t epochs = 1000;
  int64_t batch_size = 256;
  double lr = 0.0;  // 0: 0.3 x batch / 256
  double final_lr_ratio = 0.1;
  int64_t warmup_epochs = 2;
  double weight_decay = 1e-4;
  std::string optimizer = "sgd";  // sgd | lars
  double sgd_momentum = 0.9;
  // run
  std::string device = "cpu";
  int threads = 0;  // 0: all cores
  uint64_t seed = 0;
  int64_t eval_every = 1;  // epochs between kNN evaluations (0: only at the end)
  int64_t max_steps = 0;   // 0: no limit (stop early after this many steps in total)
  std::string out = "runs/resa";
  bool keep_epoch_checkpoints = false;  // also keep OUT/epoch_NNN.safetensors after each epoch
  // Minutes between checkpoints within an epoch, besides the one after every epoch (0: only those).
  // How a run is executed, like threads: a resumed run takes the value given now.
  double checkpoint_every_minutes = 10.0;
  // A fresh run (not resuming) into a folder that holds another run's checkpoint or weights: false
  // refuses, naming them; true deletes that run's files first. Not saved with the run.
  bool overwrite = false;

  double base_lr() const { return lr > 0 ? lr : 0.3 * static_cast<double>(batch_size) / 256.0; }
  // zero_init_residual resolved for arch ("auto": the official rule); throws on another value.
  bool zero_init_residual_on() const;
};

// One method setting, named once for both places a run's settings come from: the command line
// (apps/resa_cifar.cpp registers `flag` with `help` and the current value as its default) and the
// config saved in every checkpoint (`key`). get and set reach into TrainConfig's options structs; a
// setting shared by two methods (Sinkhorn's eps and iterations: ReSA and SwAV) sets both.
using SettingValue = std::variant<int64_t, double, std::string>;
// The values a numeric setting accepts: lo..hi, each end open or closed (validate() below checks them).
struct ValueRange {
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  bool contains(double v) const;
  std::string text() const;  // "> 0", ">= 1", "in [0, 1)"
  static ValueRange positive() { return {0.0, std::numeric_limits<double>::infinity(), true, false}; }
  static ValueRange at_least(double lo) { return {lo, std::numeric_limits<double>::infinity(), false, false}; }
  static ValueRange unit_open() { return {0.0, 1.0, false, true}; }  // [0, 1): a momentum
};
struct MethodSetting {
  std::string flag;                  // "--swav-prototypes"
  std::string key;                   // "swav_prototypes" (keys of older checkpoints: keep them)
  std::string help;                  // the --help line, without the default
  std::vector<std::string> choices;  // the only values allowed, when they are a few (else empty)
  ValueRange range;                  // the numeric values allowed (a string setting: unused)
  std::function<SettingValue(const TrainConfig&)> get;
  std::function<void(TrainConfig&, const SettingValue&)> set;  // takes the alternative get returns
};
// Every method setting, --method first, in the order of the --help text.
const std::vector<MethodSetting>& method_settings();
// A value as the command line writes it ("0.996", "3000", "momentum").
std::string setting_text(const SettingValue& v);

// Checks every field a command line sets, before any data is read or any step is taken; throws
// resa::Error with a message that names the flag, its value and the values allowed. The checks that
// need the dataset's size (the subsets) are validate_data's (resa/train/setup.h).
void validate(const TrainConfig& c);

void to_json(nlohmann::json& j, const TrainConfig& c);
void from_json(const nlohmann::json& j, TrainConfig& c);

}  // namespace resa::train
