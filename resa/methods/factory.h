// Builds a self-supervised method by name around an encoder and a projector.
#pragma once
#include <memory>
#include <string>

#include "nn/mlp.h"
#include "resa/methods/method.h"

namespace resa {

struct MethodSpec {
  std::string name = "resa";         // resa (more methods register here)
  std::string variant = "momentum";  // resa: momentum | no-momentum
  double temperature = 0.4;
  double ema_momentum = 0.996;
  double sinkhorn_eps = 0.05;
  int64_t sinkhorn_iters = 3;
  uint64_t seed = 0;
};

std::shared_ptr<Method> make_method(const MethodSpec& spec, nn::ModulePtr encoder,
                                    std::shared_ptr<nn::Projector> projector);

}  // namespace resa
