// Matrix products: shape rules, layout analysis (transposed views go to the GEMM as transposes) and
// device dispatch. No autograd here.
#pragma once
#include "resa/core/tensor.h"

namespace resa::ops {

// a: (..., m, k), b: (..., k, n) -> (..., m, n) with broadcast batch dims; both at least 2-D.
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace resa::ops
