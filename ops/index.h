// Ops that move elements by position: concatenation, index_select / index_add, gather / scatter_add.
// Shape rules, index bounds checks and device dispatch; no autograd. Indices are int64 and must lie in
// [0, size) (negative indices are rejected, as in PyTorch's index_select and gather).
#pragma once
#include <vector>

#include "resa/core/tensor.h"

namespace resa::ops {

// Concatenation along `dim` of tensors of one dtype and device whose shapes agree except at `dim`.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);

// x: (..., n, ...) with `dim` of size n, index: int64 (k) -> (..., k, ...), any dtype.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// dst: (..., n, ...) contiguous, src: (..., k, ...), index: int64 (k): dst[.., index[j], ..] += src[.., j, ..]
// in place; repeated indices accumulate.
void index_add_(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src);

// out has index's shape: out[p] = x[p with coordinate `dim` replaced by index[p]]; index has x's rank and
// index.size(d) <= x.size(d) for d != dim (PyTorch's gather).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// dst contiguous, src of index's shape: dst[p with coordinate `dim` replaced by index[p]] += src[p], in
// place; index has dst's rank and index.size(d) <= dst.size(d) for d != dim; repeated indices accumulate.
void scatter_add_(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src);

}  // namespace resa::ops
