// Reductions along a set of dims (empty = all), with keepdim. No autograd here.
#pragma once
#include <vector>

#include "resa/core/tensor.h"

namespace resa::ops {

enum class ReduceOp { Sum, Mean, Max, Min, ArgMax };

// ArgMax takes exactly one dim and returns int64 indices (the first maximal element).
Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim);

// Sorted, unique, wrapped dims (all dims when `dims` is empty). `op` names the caller.
std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op);
// The shape of a reduction's result.
Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim);

}  // namespace resa::ops
