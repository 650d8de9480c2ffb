// The geometry of views, without autograd: new shapes and strides over the same storage. autograd/views.cpp
// builds Tensor::reshape/expand/... on these and records their backward; ops/ uses them directly on the
// tensors it computes with, which carry no gradient.
#pragma once
#include <optional>

#include "resa/core/tensor.h"

namespace resa {

// Resolves one -1 in `shape` for a tensor of `numel` elements; `op` and `from` name the call in errors.
Shape infer_shape(const Shape& shape, int64_t numel, const char* op, const Shape& from);

// Strides that let `shape` view memory laid out as (old_shape, old_strides), or nullopt when the memory
// is not laid out compatibly (then a reshape has to copy).
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape);

// `x` seen with shape `shape` (one -1 allowed); throws when its strides do not allow that without a copy.
Tensor reshape_view(const Tensor& x, const Shape& shape, const char* op = "view");

// `x` broadcast to `shape` (size-1 dims and new leading dims get stride 0; -1 keeps a size).
Tensor expand_view(const Tensor& x, const Shape& shape);

// Another handle on the same elements, carrying no gradient history.
inline Tensor alias(const Tensor& x) { return Tensor::make_view(x, x.shape(), x.strides(), x.offset()); }

}  // namespace resa
