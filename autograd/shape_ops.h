// Differentiable functions that move elements without arithmetic: concatenation, stacking, indexing.
// (Views such as reshape/permute/narrow/expand are Tensor methods, defined in autograd/views.cpp.)
// Indices are int64 in [0, size): negative or too large ones throw, naming the value and the size.
#pragma once
#include <vector>

#include "resa/core/tensor.h"

namespace resa {

// Tensors of one dtype and device whose shapes agree except at `dim`; the gradient of each is a narrow
// of the output's gradient.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Tensors of one shape, joined along a new dim (dim may be x.dim(), or -1 for the last).
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Rows (or slices along `dim`) picked by an int64 index vector; repeated indices are allowed and
// their gradients add up (index_add).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// out[i][j] = x[i][index[i][j]] for dim 1 (any dim, any rank; index has x's rank and is no larger
// than x on the other dims, as torch.gather); the gradient is scattered back with scatter_add.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);

}  // namespace resa
