// Differentiable functions that move elements without arithmetic: concatenation, stacking, indexing.
// (Views such as reshape/permute/narrow/expand are Tensor methods, defined in autograd/views.cpp.)
#pragma once
#include <vector>

#include "core/tensor.h"

namespace resa {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Rows (or slices along `dim`) picked by an int64 index vector.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// out[i][j] = x[i][index[i][j]] for dim 1 (any dim, any rank; index has x's rank).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);

}  // namespace resa
