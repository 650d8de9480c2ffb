// Builds a self-supervised method by name around an encoder and a projector.
#pragma once
#include <memory>
#include <string>

#include "resa/nn/mlp.h"
#include "resa/methods/method.h"

namespace resa {

struct MethodSpec {
  std::string name = "resa";         // resa | simclr | byol | swav | vicreg
  std::string variant = "momentum";  // resa: momentum | no-momentum
  double temperature = 0.4;          // resa: tau of the embedding similarities
  double ema_momentum = 0.996;       // resa: base EMA momentum of the teacher
  bool symmetric_loss = false;       // resa: also CE(A^T, s^T) (the official code's first releases)
  double sinkhorn_eps = 0.05;        // resa and swav
  int64_t sinkhorn_iters = 3;        // resa and swav
  uint64_t seed = 0;                 // initial weights of the extra heads (predictor, prototypes)
  // simclr
  double simclr_temperature = 0.2;
  // byol
  double byol_momentum = 0.99;
  int64_t byol_pred_hidden = 4096;
  // swav
  double swav_temperature = 0.1;
  int64_t swav_prototypes = 3000;
  int64_t swav_freeze_iters = 313;
  // vicreg
  double vicreg_sim = 25.0;
  double vicreg_var = 25.0;
  double vicreg_cov = 1.0;
};

// Whether the method's projector ends with BatchNorm1d(affine=False) after its last Linear: ReSA's does
// (the official code); SimCLR's, BYOL's, SwAV's and VICReg's papers end the projector with the Linear.
// For VICReg it matters most: a final batch norm gives every dimension a batch std of about 1, which
// silences the variance term. Unknown names throw as make_method does.
bool projector_last_bn(const std::string& method);

std::shared_ptr<Method> make_method(const MethodSpec& spec, nn::ModulePtr encoder,
                                    std::shared_ptr<nn::Projector> projector);

}  // namespace resa
