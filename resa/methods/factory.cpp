#include "resa/methods/factory.h"

namespace resa {

bool projector_last_bn(const std::string& method) {
  if (method == "resa") return true;
  if (method == "simclr" || method == "byol" || method == "swav" || method == "vicreg") return false;
  RESA_FAIL("[method] unknown method '{}' (resa | simclr | byol | swav | vicreg)", method);
}

std::shared_ptr<Method> make_method(const MethodSpec& spec, nn::ModulePtr encoder,
                                    std::shared_ptr<nn::Projector> projector) {
  if (spec.name == "resa") return std::make_shared<ReSA>(std::move(encoder), std::move(projector), spec.resa);
  if (spec.name == "simclr") return std::make_shared<SimCLR>(std::move(encoder), std::move(projector), spec.simclr);
  if (spec.name == "byol")
    return std::make_shared<BYOL>(std::move(encoder), std::move(projector), BYOLOptions(spec.byol).seed(spec.seed));
  if (spec.name == "swav")
    return std::make_shared<SwAV>(std::move(encoder), std::move(projector), SwAVOptions(spec.swav).seed(spec.seed));
  if (spec.name == "vicreg") return std::make_shared<VICReg>(std::move(encoder), std::move(projector), spec.vicreg);
  RESA_FAIL("[method] unknown method '{}' (resa | simclr | byol | swav | vicreg)", spec.name);
}

}  // namespace resa
