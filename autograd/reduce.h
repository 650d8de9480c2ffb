// Differentiable reductions along dims (empty dims = all dims), with keepdim.
#pragma once
#include <vector>

#include "resa/core/tensor.h"

namespace resa {

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Largest value along one dim; the gradient goes to the first maximal element.
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);  // over all elements, a scalar
// Index (int64) of the first maximal element along one dim; not differentiable.
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
// Variance along dims; unbiased divides by n - 1 (PyTorch's default), else by n.
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, bool unbiased = true, bool keepdim = false);
Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim = false);
// Euclidean norm along dims.
Tensor norm(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);

}  // namespace resa
