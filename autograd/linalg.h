// Matrix products.
#pragma once
#include "resa/core/tensor.h"

namespace resa {

// (m, k) x (k, n) -> (m, n); batched (..., m, k) x (..., k, n) with broadcast batch dims;
// 1-D operands as in numpy. Transposed views go to the GEMM without a copy.
Tensor matmul(const Tensor& a, const Tensor& b);
// y = x w^T + b, x: (N, in), w: (out, in), b: (out) or undefined.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = {});

}  // namespace resa
