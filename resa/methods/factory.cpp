#include "resa/methods/factory.h"

#include "resa/methods/resa.h"

namespace resa {

std::shared_ptr<Method> make_method(const MethodSpec& spec, nn::ModulePtr encoder,
                                    std::shared_ptr<nn::Projector> projector) {
  if (spec.name == "resa") {
    RESA_CHECK(spec.variant == "momentum" || spec.variant == "no-momentum",
               "[method] ReSA variant '{}' must be momentum or no-momentum", spec.variant);
    auto opts = ReSAOptions()
                    .momentum_teacher(spec.variant == "momentum")
                    .ema_base(spec.ema_momentum)
                    .loss(ReSALossOptions().tau(spec.temperature).eps(spec.sinkhorn_eps).iters(spec.sinkhorn_iters));
    return std::make_shared<ReSA>(std::move(encoder), std::move(projector), opts);
  }
  RESA_FAIL("[method] unknown method '{}' (resa)", spec.name);
}

}  // namespace resa
