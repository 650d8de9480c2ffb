#include "resa/train/config.h"

namespace resa::train {

#define RESA_CONFIG_FIELDS(X)                                                                          \
  X(dataset) X(data) X(train_subset) X(eval_subset) X(image_size) X(workers) X(arch) X(width) X(mlp)   \
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
  // Missing keys keep their defaults, so checkpoints of older versions still load.
#define X(f) \
  if (j.contains(#f)) j.at(#f).get_to(c.f);
  RESA_CONFIG_FIELDS(X)
#undef X
}

}  // namespace resa::train
