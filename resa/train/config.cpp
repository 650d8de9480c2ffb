#include "resa/train/config.h"

#include <fmt/format.h>

#include "resa/core/error.h"

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
#define RESA_FIELD_SETTING(flag, key, help, field)                                                          \
  MethodSetting {                                                                                           \
    flag, key, help, {}, [](const TrainConfig& c) { return SettingValue(c.field); },                        \
        [](TrainConfig& c, const SettingValue& v) { c.field = std::get<std::decay_t<decltype(c.field)>>(v); } \
  }

const std::vector<MethodSetting>& method_settings() {
  static const std::vector<MethodSetting> settings{
      {"--method", "method",
       "resa | simclr | byol | swav | vicreg (the baselines share encoder, projector, loader and optimizer with "
       "ReSA; their CIFAR settings are listed below)",
       {"resa", "simclr", "byol", "swav", "vicreg"},
       [](const TrainConfig& c) { return SettingValue(c.method); },
       [](TrainConfig& c, const SettingValue& v) { c.method = std::get<std::string>(v); }},
      // ReSA's options hold a flag; the command line and the saved configs name the variant.
      {"--variant", "variant", "resa: momentum (EMA teacher, official CIFAR recipe) | no-momentum",
       {"momentum", "no-momentum"},
       [](const TrainConfig& c) { return SettingValue(c.resa.momentum_teacher_ ? "momentum" : "no-momentum"); },
       [](TrainConfig& c, const SettingValue& v) {
         const auto& s = std::get<std::string>(v);
         RESA_CHECK(s == "momentum" || s == "no-momentum", "[train] --variant '{}' must be momentum or no-momentum", s);
         c.resa.momentum_teacher_ = s == "momentum";
       }},
      RESA_FIELD_SETTING("--temperature", "temperature", "resa: tau of the embedding similarities", resa.loss_.tau_),
      RESA_FIELD_SETTING("--momentum", "ema_momentum", "resa: base EMA momentum of the teacher (cosine to 1)",
                         resa.ema_base_),
      {"--loss-sides", "loss_sides",
       "resa: 1 = CE(A, s) over rows (the latest official code), 2 = (CE(A, s) + CE(A^T, s^T)) / 2 (its first "
       "releases)",
       {"1", "2"},
       [](const TrainConfig& c) { return SettingValue(c.loss_sides); },
       [](TrainConfig& c, const SettingValue& v) { c.loss_sides = std::get<int64_t>(v); }},
      // Shared: both methods' Sinkhorn follows the one setting, as one field did before the options moved.
      {"--sinkhorn-eps", "sinkhorn_eps", "resa, swav: Sinkhorn temperature", {},
       [](const TrainConfig& c) { return SettingValue(c.resa.loss_.eps_); },
       [](TrainConfig& c, const SettingValue& v) { c.resa.loss_.eps_ = c.swav.eps_ = std::get<double>(v); }},
      {"--sinkhorn-iters", "sinkhorn_iters", "resa, swav: Sinkhorn iterations", {},
       [](const TrainConfig& c) { return SettingValue(c.resa.loss_.iters_); },
       [](TrainConfig& c, const SettingValue& v) { c.resa.loss_.iters_ = c.swav.iters_ = std::get<int64_t>(v); }},
      RESA_FIELD_SETTING("--simclr-temperature", "simclr_temperature", "simclr: NT-Xent temperature",
                         simclr.temperature_),
      RESA_FIELD_SETTING("--byol-momentum", "byol_momentum", "byol: base momentum of the target (cosine to 1)",
                         byol.ema_base_),
      RESA_FIELD_SETTING("--byol-pred-hidden", "byol_pred_hidden", "byol: hidden width of the predictor",
                         byol.pred_hidden_),
      RESA_FIELD_SETTING("--swav-temperature", "swav_temperature", "swav: temperature of the swapped prediction",
                         swav.temperature_),
      RESA_FIELD_SETTING("--swav-prototypes", "swav_prototypes", "swav: number of prototypes K", swav.prototypes_),
      RESA_FIELD_SETTING("--swav-freeze-iters", "swav_freeze_iters", "swav: first steps without prototype gradients",
                         swav.freeze_iters_),
      RESA_FIELD_SETTING("--vicreg-sim", "vicreg_sim", "vicreg: weight of the invariance (MSE) term", vicreg.sim_),
      RESA_FIELD_SETTING("--vicreg-var", "vicreg_var", "vicreg: weight of the variance term", vicreg.var_),
      RESA_FIELD_SETTING("--vicreg-cov", "vicreg_cov", "vicreg: weight of the covariance term", vicreg.cov_),
  };
  return settings;
}
#undef RESA_FIELD_SETTING

std::string setting_text(const SettingValue& v) {
  return std::visit([](const auto& x) { return fmt::format("{}", x); }, v);
}

// ---------------------------------------------------------------- JSON
// The run's other fields, stored as they are under their own names.
#define RESA_CONFIG_FIELDS(X)                                                                          \
  X(dataset) X(data) X(train_subset) X(eval_subset) X(image_size) X(workers) X(arch) X(width) X(mlp)   \
  X(zero_init_residual) X(stem_padding) X(epochs)                                                     \
  X(batch_size) X(lr) X(final_lr_ratio) X(warmup_epochs) X(weight_decay) X(optimizer) X(sgd_momentum) \
  X(device) X(threads) X(seed) X(eval_every) X(max_steps) X(out) X(keep_epoch_checkpoints)

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
