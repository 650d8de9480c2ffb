// Concatenation, stacking and indexing. Backward: cat narrows the gradient; index_select and gather
// scatter-add it into zeros (ops/index.h), so repeated indices accumulate.
#include "resa/autograd/shape_ops.h"

#include "resa/autograd/engine.h"
#include "resa/ops/index.h"

namespace resa {

using autograd::record;

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  Tensor out = ops::cat(tensors, dim);
  const int64_t d = wrap_dim(dim, out.dim(), "cat");
  std::vector<int64_t> sizes;
  std::vector<bool> need;
  for (const auto& t : tensors) {
    sizes.push_back(t.shape()[d]);
    need.push_back(t.requires_grad());
  }
  return record(out, "cat", tensors, [d, sizes, need](const Tensor& g) {
    std::vector<Tensor> grads(sizes.size());
    int64_t start = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (need[i]) grads[i] = g.narrow(d, start, sizes[i]);
      start += sizes[i];
    }
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  RESA_CHECK(!tensors.empty(), "[stack] needs at least one tensor");
  const int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    RESA_CHECK(tensors[i].shape() == tensors[0].shape(), "[stack] tensor {} has shape {}, tensor 0 has {}", i,
               shape_str(tensors[i].shape()), shape_str(tensors[0].shape()));
    parts.push_back(tensors[i].unsqueeze(d));
  }
  return cat(parts, d);
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor out = ops::index_select(x, dim, index);
  const int64_t d = wrap_dim(dim, std::max<int64_t>(x.dim(), 1), "index_select");
  return record(out, "index_select", {x}, [s = x.shape(), d, idx = index.detach()](const Tensor& g) {
    Tensor gx = zeros(s, TensorOptions().dtype(g.dtype()).device(g.device()));
    ops::index_add_(gx, d, idx, g);
    return std::vector<Tensor>{gx};
  });
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor out = ops::gather(x, dim, index);
  const int64_t d = wrap_dim(dim, std::max<int64_t>(x.dim(), 1), "gather");
  return record(out, "gather", {x}, [s = x.shape(), d, idx = index.detach()](const Tensor& g) {
    Tensor gx = zeros(s, TensorOptions().dtype(g.dtype()).device(g.device()));
    ops::scatter_add_(gx, d, idx, g);
    return std::vector<Tensor>{gx};
  });
}

}  // namespace resa
