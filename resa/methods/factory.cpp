#include "resa/methods/factory.h"

#include "resa/methods/byol.h"
#include "resa/methods/resa.h"
#include "resa/methods/simclr.h"
#include "resa/methods/swav.h"
#include "resa/methods/vicreg.h"

namespace resa {

bool projector_last_bn(const std::string& method) {
  if (method == "resa") return true;
  if (method == "simclr" || method == "byol" || method == "swav" || method == "vicreg") return false;
  RESA_FAIL("[method] unknown method '{}' (resa | simclr | byol | swav | vicreg)", method);
}

std::shared_ptr<Method> make_method(const MethodSpec& spec, nn::ModulePtr encoder,
                                    std::shared_ptr<nn::Projector> projector) {
  if (spec.name == "resa") {
    RESA_CHECK(spec.variant == "momentum" || spec.variant == "no-momentum",
               "[method] ReSA variant '{}' must be momentum or no-momentum", spec.variant);
    auto opts = ReSAOptions()
                    .momentum_teacher(spec.variant == "momentum")
                    .ema_base(spec.ema_momentum)
                    .loss(ReSALossOptions().tau(spec.temperature).eps(spec.sinkhorn_eps).iters(spec.sinkhorn_iters)
                              .symmetric(spec.symmetric_loss));
    return std::make_shared<ReSA>(std::move(encoder), std::move(projector), opts);
  }
  if (spec.name == "simclr")
    return std::make_shared<SimCLR>(std::move(encoder), std::move(projector),
                                    SimCLROptions().temperature(spec.simclr_temperature));
  if (spec.name == "byol")
    return std::make_shared<BYOL>(
        std::move(encoder), std::move(projector),
        BYOLOptions().ema_base(spec.byol_momentum).pred_hidden(spec.byol_pred_hidden).seed(spec.seed));
  if (spec.name == "swav")
    return std::make_shared<SwAV>(std::move(encoder), std::move(projector),
                                  SwAVOptions()
                                      .prototypes(spec.swav_prototypes)
                                      .temperature(spec.swav_temperature)
                                      .eps(spec.sinkhorn_eps)
                                      .iters(spec.sinkhorn_iters)
                                      .freeze_iters(spec.swav_freeze_iters)
                                      .seed(spec.seed));
  if (spec.name == "vicreg")
    return std::make_shared<VICReg>(std::move(encoder), std::move(projector),
                                    VICRegOptions().sim(spec.vicreg_sim).var(spec.vicreg_var).cov(spec.vicreg_cov));
  RESA_FAIL("[method] unknown method '{}' (resa | simclr | byol | swav | vicreg)", spec.name);
}

}  // namespace resa
