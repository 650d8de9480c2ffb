#include "resa/autograd/reduce.h"

#include "resa/autograd/elementwise.h"
#include "resa/autograd/engine.h"
#include "resa/ops/reduce.h"

namespace resa {

using autograd::record;
using ops::ReduceOp;

namespace {
// Brings a reduction's gradient back to the input's shape: restore the reduced dims as 1, expand.
Tensor expand_back(const Tensor& g, const Shape& in_shape, const std::vector<int64_t>& dims) {
  return g.reshape(ops::reduced_shape(in_shape, dims, true)).expand(in_shape);
}
}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  auto dims = ops::normalize_dims(dims_in, x.dim(), "sum");
  return record(ops::reduce(ReduceOp::Sum, x, dims, keepdim), "sum", {x}, [s = x.shape(), dims](const Tensor& g) {
    return std::vector<Tensor>{expand_back(g, s, dims).contiguous()};
  });
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  auto dims = ops::normalize_dims(dims_in, x.dim(), "mean");
  int64_t count = 1;
  for (auto d : dims) count *= x.shape()[d];
  return record(ops::reduce(ReduceOp::Mean, x, dims, keepdim), "mean", {x},
                [s = x.shape(), dims, count](const Tensor& g) {
                  return std::vector<Tensor>{mul(expand_back(g, s, dims), 1.0 / static_cast<double>(count))};
                });
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return ops::reduce(ReduceOp::ArgMax, x, {dim}, keepdim); }

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  int64_t d = wrap_dim(dim, x.dim(), "max");
  Tensor out = ops::reduce(ReduceOp::Max, x, {d}, keepdim);
  if (!autograd::any_requires_grad({x})) return out;
  // The gradient goes to the first maximal element: a one-hot of argmax along d.
  Tensor idx = ops::reduce(ReduceOp::ArgMax, x.detach(), {d}, true);
  return record(out, "max", {x}, [s = x.shape(), d, idx](const Tensor& g) {
    Shape iota_shape(s.size(), 1);
    iota_shape[d] = s[d];
    TensorOptions o = TensorOptions().dtype(g.dtype()).device(g.device());
    Tensor iota = arange(0, static_cast<double>(s[d]), 1, o).reshape(iota_shape);
    Tensor onehot = eq(iota, idx.to(g.dtype()));
    return std::vector<Tensor>{mul(expand_back(g, s, {d}), onehot)};
  });
}

Tensor min(const Tensor& x, int64_t dim, bool keepdim) { return neg(max(neg(x), dim, keepdim)); }

Tensor max(const Tensor& x) { return max(x.reshape({-1}), 0, false); }

Tensor var(const Tensor& x, const std::vector<int64_t>& dims_in, bool unbiased, bool keepdim) {
  auto dims = ops::normalize_dims(dims_in, x.dim(), "var");
  int64_t n = 1;
  for (auto d : dims) n *= x.shape()[d];
  RESA_CHECK(n > (unbiased ? 1 : 0), "[var] needs more than {} elements along the reduced dims of {}", unbiased ? 1 : 0,
             shape_str(x.shape()));
  Tensor d = sub(x, mean(x, dims, true));
  return mul(sum(mul(d, d), dims, keepdim), 1.0 / static_cast<double>(n - (unbiased ? 1 : 0)));
}

Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim) {
  Tensor m = ops::reduce(ReduceOp::Max, x.detach(), {dim}, true);
  Tensor r = add(log(sum(exp(sub(x, m)), {dim}, true)), m);
  return keepdim ? r : r.squeeze(dim);
}

Tensor norm(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return sqrt(sum(mul(x, x), dims, keepdim));
}

}  // namespace resa
