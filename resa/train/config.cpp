#include "resa/train/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "resa/core/device.h"
#include "resa/core/error.h"
#include "resa/nn/mlp.h"

namespace resa::train {

bool TrainConfig::zero_init_residual_on() const {
  if (zero_init_residual == "on") return true;
  if (zero_init_residual == "off") return false;
  RESA_CHECK(zero_init_residual == "auto", "[train] --zero-init-residual must be on, off or auto, got '{}'",
             zero_init_residual);
  // The official get_encoder: zero_init_residual = (arch != 'resnet18'); resnet_small is our own
  // BasicBlock network of the resnet18 family, so it follows resnet18.
  return arch != "resnet18" && arch != "resnet_small";
}

// ---------------------------------------------------------------- method settings
// A setting stored as it is in one field: `field` is its path from the config, e.g. swav.prototypes_.
// The other entries convert (the variant's name to ReSA's flag) or set two fields (Sinkhorn's).
#define RESA_FIELD_SETTING(flag, key, help, field, range)                                                     \
  MethodSetting {                                                                                             \
    flag, key, help, {}, range, [](const TrainConfig& c) { return SettingValue(c.field); },                   \
        [](TrainConfig& c, const SettingValue& v) { c.field = std::get<std::decay_t<decltype(c.field)>>(v); } \
  }

const std::vector<MethodSetting>& method_settings() {
  static const std::vector<MethodSetting> settings{
      {"--method",
       "method",
       "resa | simclr | byol | swav | vicreg (the baselines share encoder, projector, loader and optimizer with "
       "ReSA; their CIFAR settings are listed below)",
       {"resa", "simclr", "byol", "swav", "vicreg"},
       {},
       [](const TrainConfig& c) { return SettingValue(c.method); },
       [](TrainConfig& c, const SettingValue& v) { c.method = std::get<std::string>(v); }},
      // ReSA's options hold a flag; the command line and the saved configs name the variant.
      {"--variant",
       "variant",
       "resa: momentum (EMA teacher, official CIFAR recipe) | no-momentum",
       {"momentum", "no-momentum"},
       {},
       [](const TrainConfig& c) { return SettingValue(c.resa.momentum_teacher_ ? "momentum" : "no-momentum"); },
       [](TrainConfig& c, const SettingValue& v) {
         const auto& s = std::get<std::string>(v);
         RESA_CHECK(s == "momentum" || s == "no-momentum", "[train] --variant '{}' must be momentum or no-momentum", s);
         c.resa.momentum_teacher_ = s == "momentum";
       }},
      RESA_FIELD_SETTING("--temperature", "temperature", "resa: tau of the embedding similarities", resa.loss_.tau_,
                         ValueRange::positive()),
      RESA_FIELD_SETTING("--momentum", "ema_momentum", "resa: base EMA momentum of the teacher (cosine to 1)",
                         resa.ema_base_, ValueRange::unit_open()),
      {"--loss-sides",
       "loss_sides",
       "resa: 1 = CE(A, s) over rows (the latest official code), 2 = (CE(A, s) + CE(A^T, s^T)) / 2 (its first "
       "releases)",
       {"1", "2"},
       {},
       [](const TrainConfig& c) { return SettingValue(c.loss_sides); },
       [](TrainConfig& c, const SettingValue& v) { c.loss_sides = std::get<int64_t>(v); }},
      // Shared: both methods' Sinkhorn follows the one setting, as one field did before the options moved.
      {"--sinkhorn-eps",
       "sinkhorn_eps",
       "resa, swav: Sinkhorn temperature",
       {},
       ValueRange::positive(),
       [](const TrainConfig& c) { return SettingValue(c.resa.loss_.eps_); },
       [](TrainConfig& c, const SettingValue& v) { c.resa.loss_.eps_ = c.swav.eps_ = std::get<double>(v); }},
      {"--sinkhorn-iters",
       "sinkhorn_iters",
       "resa, swav: Sinkhorn iterations",
       {},
       ValueRange::at_least(1),
       [](const TrainConfig& c) { return SettingValue(c.resa.loss_.iters_); },
       [](TrainConfig& c, const SettingValue& v) { c.resa.loss_.iters_ = c.swav.iters_ = std::get<int64_t>(v); }},
      RESA_FIELD_SETTING("--simclr-temperature", "simclr_temperature", "simclr: NT-Xent temperature",
                         simclr.temperature_, ValueRange::positive()),
      RESA_FIELD_SETTING("--byol-momentum", "byol_momentum", "byol: base momentum of the target (cosine to 1)",
                         byol.ema_base_, ValueRange::unit_open()),
      RESA_FIELD_SETTING("--byol-pred-hidden", "byol_pred_hidden", "byol: hidden width of the predictor",
                         byol.pred_hidden_, ValueRange::at_least(1)),
      RESA_FIELD_SETTING("--swav-temperature", "swav_temperature", "swav: temperature of the swapped prediction",
                         swav.temperature_, ValueRange::positive()),
      RESA_FIELD_SETTING("--swav-prototypes", "swav_prototypes", "swav: number of prototypes K", swav.prototypes_,
                         ValueRange::at_least(1)),
      RESA_FIELD_SETTING("--swav-freeze-iters", "swav_freeze_iters", "swav: first steps without prototype gradients",
                         swav.freeze_iters_, ValueRange::at_least(0)),
      RESA_FIELD_SETTING("--vicreg-sim", "vicreg_sim", "vicreg: weight of the invariance (MSE) term", vicreg.sim_,
                         ValueRange::at_least(0)),
      RESA_FIELD_SETTING("--vicreg-var", "vicreg_var", "vicreg: weight of the variance term", vicreg.var_,
                         ValueRange::at_least(0)),
      RESA_FIELD_SETTING("--vicreg-cov", "vicreg_cov", "vicreg: weight of the covariance term", vicreg.cov_,
                         ValueRange::at_least(0)),
  };
  return settings;
}
#undef RESA_FIELD_SETTING

std::string setting_text(const SettingValue& v) {
  return std::visit([](const auto& x) { return fmt::format("{}", x); }, v);
}

bool ValueRange::contains(double v) const {
  if (std::isnan(v)) return false;
  return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
}

std::string ValueRange::text() const {
  const bool no_hi = std::isinf(hi), no_lo = std::isinf(lo);
  if (no_hi && no_lo) return "any number";
  if (no_hi) return fmt::format("{} {}", lo_open ? ">" : ">=", lo);
  if (no_lo) return fmt::format("{} {}", hi_open ? "<" : "<=", hi);
  return fmt::format("in {}{}, {}{}", lo_open ? "(" : "[", lo, hi, hi_open ? ")" : "]");
}

// ---------------------------------------------------------------- validation
namespace {
// The smallest evaluation split the final evaluation can use: the weighted kNN's k (resa/eval/knn.h).
constexpr int64_t kMinEvalImages = 200;

void check_range(const std::string& flag, double v, const ValueRange& r, const std::string& note = "") {
  RESA_CHECK(r.contains(v), "{} {}: must be {}{}", flag, v, r.text(), note.empty() ? "" : " (" + note + ")");
}
void check_choice(const std::string& flag, const std::string& v, const std::vector<std::string>& choices) {
  if (std::find(choices.begin(), choices.end(), v) != choices.end()) return;
  RESA_FAIL("{} '{}': must be one of {}", flag, v, fmt::join(choices, ", "));
}
}  // namespace

void validate(const TrainConfig& c) {
  check_choice("--dataset", c.dataset, {"cifar10", "cifar100", "fashion-mnist", "mnist", "folder"});
  check_range("--train-subset", static_cast<double>(c.train_subset), ValueRange::at_least(0), "0: all images");
  RESA_CHECK(c.eval_subset == 0 || c.eval_subset >= kMinEvalImages,
             "--eval-subset {}: must be 0 (all) or >= {} (the weighted kNN's k = {} neighbours among the "
             "evaluation's train images)",
             c.eval_subset, kMinEvalImages, kMinEvalImages);
  check_range("--workers", static_cast<double>(c.workers), ValueRange::at_least(0));
  check_choice("--arch", c.arch, {"resnet18", "resnet34", "resnet50", "resnet_small"});
  check_range("--width", static_cast<double>(c.width), ValueRange::at_least(0), "0: the architecture's");
  try {
    nn::parse_mlp_spec(c.mlp);
  } catch (const Error&) {
    RESA_FAIL("--mlp '{}': must be layer sizes > 0 joined by '-', like 2048-2048-512", c.mlp);
  }
  check_choice("--zero-init-residual", c.zero_init_residual, {"on", "off", "auto"});
  check_range("--stem-padding", static_cast<double>(c.stem_padding), {0.0, 2.0, false, false});
  for (const auto& s : method_settings()) {
    const SettingValue v = s.get(c);
    if (!s.choices.empty()) {
      check_choice(s.flag, setting_text(v), s.choices);
    } else if (const auto* d = std::get_if<double>(&v)) {
      check_range(s.flag, *d, s.range);
    } else if (const auto* i = std::get_if<int64_t>(&v)) {
      check_range(s.flag, static_cast<double>(*i), s.range);
    }
  }
  check_range("--epochs", static_cast<double>(c.epochs), ValueRange::at_least(1));
  check_range("--batch-size", static_cast<double>(c.batch_size), ValueRange::at_least(2),
              "batch norm needs two images");
  check_range("--lr", c.lr, ValueRange::at_least(0), "0: 0.3 x batch / 256");
  check_range("--warmup-epochs", static_cast<double>(c.warmup_epochs), ValueRange::at_least(0));
  check_range("--wd", c.weight_decay, ValueRange::at_least(0));
  check_choice("--optimizer", c.optimizer, {"sgd", "lars"});
  RESA_CHECK(c.final_lr_ratio >= 0 && c.final_lr_ratio <= 1, "final_lr_ratio {}: must be in [0, 1]", c.final_lr_ratio);
  RESA_CHECK(c.sgd_momentum >= 0 && c.sgd_momentum < 1, "sgd_momentum {}: must be in [0, 1)", c.sgd_momentum);
  try {
    Device::parse(c.device);
  } catch (const Error&) {
    RESA_FAIL("--device '{}': must be cpu, cuda or cuda:N", c.device);
  }
  check_range("--threads", c.threads, ValueRange::at_least(0), "0: all cores");
  check_range("--eval-every", static_cast<double>(c.eval_every), ValueRange::at_least(0), "0: at the end only");
  check_range("--max-steps", static_cast<double>(c.max_steps), ValueRange::at_least(0), "0: no limit");
  RESA_CHECK(!c.out.empty(), "--out: must name a folder");
  RESA_CHECK(std::isfinite(c.checkpoint_every_minutes) && c.checkpoint_every_minutes >= 0,
             "--checkpoint-every-minutes {}: must be >= 0 (0: only after each epoch)", c.checkpoint_every_minutes);
}

// ---------------------------------------------------------------- JSON
// The run's other fields, stored as they are under their own names.
// clang-format off
#define RESA_CONFIG_FIELDS(X)                                                                                 \
  X(dataset) X(data) X(train_subset) X(eval_subset) X(image_size) X(workers) X(arch) X(width) X(mlp)          \
  X(zero_init_residual) X(stem_padding) X(epochs) X(batch_size) X(lr) X(final_lr_ratio) X(warmup_epochs)      \
  X(weight_decay) X(optimizer) X(sgd_momentum) X(device) X(threads) X(seed) X(eval_every) X(max_steps) X(out) \
  X(keep_epoch_checkpoints) X(checkpoint_every_minutes)
// clang-format on

void to_json(nlohmann::json& j, const TrainConfig& c) {
#define X(f) j[#f] = c.f;
  RESA_CONFIG_FIELDS(X)
#undef X
  for (const auto& s : method_settings()) std::visit([&](const auto& v) { j[s.key] = v; }, s.get(c));
}

void from_json(const nlohmann::json& j, TrainConfig& c) {
  // Missing keys keep their defaults, so checkpoints of older versions still load. Runs saved before
  // the recipe audit (no loss_sides key) continue with the recipe they started with.
  if (!j.contains("loss_sides")) {
    c.loss_sides = 2;
    c.stem_padding = 1;
    c.zero_init_residual = "on";
  }
#define X(f) \
  if (j.contains(#f)) j.at(#f).get_to(c.f);
  RESA_CONFIG_FIELDS(X)
#undef X
  for (const auto& s : method_settings()) {
    if (!j.contains(s.key)) continue;
    // Read the value as the type the setting holds (its current value tells which).
    s.set(c, std::visit([&](const auto& now) { return SettingValue(j.at(s.key).get<std::decay_t<decltype(now)>>()); },
                        s.get(c)));
  }
}

}  // namespace resa::train
