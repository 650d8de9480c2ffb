#include "resa/ops/reduce.h"

#include <algorithm>

#include "resa/ops/cpu/reduce.h"
#include "resa/ops/dispatch.h"
#include "resa/ops/elementwise.h"
#ifdef RESA_WITH_CUDA
#include "resa/ops/cuda/kernels.h"
#endif

namespace resa::ops {

std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t i = 0; i < ndim; ++i) out.push_back(i);
    return out;
  }
  for (auto d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  RESA_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), "[{}] repeated dim in ({})", op,
             fmt::join(dims, ", "));
  return out;
}

Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    bool reduced = std::find(dims.begin(), dims.end(), i) != dims.end();
    if (!reduced)
      out.push_back(shape[i]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

namespace {
const char* reduce_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return "sum";
    case ReduceOp::Mean:
      return "mean";
    case ReduceOp::Max:
      return "max";
    case ReduceOp::Min:
      return "min";
    case ReduceOp::ArgMax:
      return "argmax";
  }
  return "reduce";
}
}  // namespace

Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const char* name = reduce_name(op);
  check_floating(name, x);
  auto dims = normalize_dims(dims_in, x.dim(), name);
  if (op == ReduceOp::ArgMax)
    RESA_CHECK(dims.size() == 1, "[argmax] takes exactly one dim, got {} for shape {}", dims.size(),
               shape_str(x.shape()));
  if (op == ReduceOp::Max || op == ReduceOp::Min || op == ReduceOp::ArgMax) {
    for (auto d : dims)
      RESA_CHECK(x.shape()[d] > 0, "[{}] cannot reduce over an empty dim {} of shape {}", name, d,
                 shape_str(x.shape()));
  }
  Shape out_shape = reduced_shape(x.shape(), dims, keepdim);
  DType out_dtype = op == ReduceOp::ArgMax ? DType::Int64 : x.dtype();

  // Lay x out as (outer, r, inner): reduced dims adjacent in a contiguous tensor need no copy;
  // otherwise move the kept dims first and copy.
  Tensor src = x;
  int64_t outer = 1, r = 1, inner = 1;
  bool adjacent = dims.empty() || dims.back() - dims.front() + 1 == static_cast<int64_t>(dims.size());
  if (adjacent && x.is_contiguous()) {
    for (int64_t i = 0; i < x.dim(); ++i) {
      if (!dims.empty() && i < dims.front())
        outer *= x.shape()[i];
      else if (!dims.empty() && i <= dims.back())
        r *= x.shape()[i];
      else
        inner *= x.shape()[i];
    }
  } else {
    Shape perm;
    for (int64_t i = 0; i < x.dim(); ++i)
      if (std::find(dims.begin(), dims.end(), i) == dims.end()) perm.push_back(i), outer *= x.shape()[i];
    for (auto d : dims) perm.push_back(d), r *= x.shape()[d];
    Shape ps, pst;
    for (auto p : perm) ps.push_back(x.shape()[p]), pst.push_back(x.strides()[p]);
    src = contiguous_copy(Tensor::make_view(x, ps, pst, x.offset()));
  }
  Tensor out = Tensor::empty(out_shape, out_dtype, x.device());
  RESA_BACKEND_CALL(x.device(), name, reduce, op, x.dtype(), outer, r, inner, src.raw_data(), out.raw_data());
  return out;
}

}  // namespace resa::ops
