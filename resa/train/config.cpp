#include "resa/train/config.h"

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

#define RESA_CONFIG_FIELDS(X)                                                                          \
  X(dataset) X(data) X(train_subset) X(eval_subset) X(image_size) X(workers) X(arch) X(width) X(mlp)   \
  X(zero_init_residual) X(stem_padding) X(loss_sides)                                                 \
  X(method) X(variant) X(temperature) X(sinkhorn_eps) X(sinkhorn_iters) X(ema_momentum) X(epochs)      \
  X(simclr_temperature) X(byol_momentum) X(byol_pred_hidden) X(swav_temperature) X(swav_prototypes)   \
  X(swav_freeze_iters) X(vicreg_sim) X(vicreg_var) X(vicreg_cov)                                      \
  X(batch_size) X(lr) X(final_lr_ratio) X(warmup_epochs) X(weight_decay) X(optimizer) X(sgd_momentum) \
  X(device) X(threads) X(seed) X(eval_every) X(max_steps) X(out) X(keep_epoch_checkpoints)

void to_json(nlohmann::json& j, const TrainConfig& c) {
#define X(f) j[#f] = c.f;
  RESA_CONFIG_FIELDS(X)
#undef X
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
}

}  // namespace resa::train
