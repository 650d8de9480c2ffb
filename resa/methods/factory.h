// Builds a self-supervised method by name around an encoder and a projector.
#pragma once
#include <memory>
#include <string>

#include "resa/methods/byol.h"
#include "resa/methods/method.h"
#include "resa/methods/resa.h"
#include "resa/methods/simclr.h"
#include "resa/methods/swav.h"
#include "resa/methods/vicreg.h"
#include "resa/nn/mlp.h"

namespace resa {

// A method by name with the options of every method: each options struct (resa/methods/<name>.h)
// is the one place its defaults are written; make_method passes on the named method's.
struct MethodSpec {
  std::string name = "resa";  // resa | simclr | byol | swav | vicreg
  uint64_t seed = 0;          // initial weights of the extra heads (predictor, prototypes); overrides
                              // byol.seed_ and swav.seed_, so one seed decides a run
  ReSAOptions resa;
  SimCLROptions simclr;
  BYOLOptions byol;
  SwAVOptions swav;
  VICRegOptions vicreg;
};

// Whether the method's projector ends with BatchNorm1d(affine=False) after its last Linear: ReSA's does
// (the official code); SimCLR's, BYOL's, SwAV's and VICReg's papers end the projector with the Linear.
// For VICReg it matters most: a final batch norm gives every dimension a batch std of about 1, which
// silences the variance term. Unknown names throw as make_method does.
bool projector_last_bn(const std::string& method);

std::shared_ptr<Method> make_method(const MethodSpec& spec, nn::ModulePtr encoder,
                                    std::shared_ptr<nn::Projector> projector);

}  // namespace resa
