#include "resa/ops/index.h"

#include "resa/ops/cpu/index.h"
#include "resa/ops/dispatch.h"
#include "resa/ops/elementwise.h"
#ifdef RESA_WITH_CUDA
#include "resa/ops/cuda/kernels.h"
#endif

namespace resa::ops {
namespace {

// Dim of a tensor of rank ndim (a 0-dim tensor takes dim 0 or -1, as PyTorch).
int64_t index_dim(int64_t dim, int64_t ndim, const char* op) { return wrap_dim(dim, std::max<int64_t>(ndim, 1), op); }

void check_index_dtype(const char* op, const Tensor& index, const Tensor& x) {
  RESA_CHECK(index.dtype() == DType::Int64, "[{}] index must be int64, got {} index {} for input {}", op,
             dtype_name(index.dtype()), shape_str(index.shape()), shape_str(x.shape()));
  check_same_device(op, x, index);
}

// Every value of a contiguous host index lies in [0, n); names the first offender.
void check_bounds(const char* op, const Tensor& index, int64_t n, int64_t dim, const Tensor& x) {
  const int64_t* p = index.data<int64_t>();
  for (int64_t i = 0; i < index.numel(); ++i)
    RESA_CHECK(p[i] >= 0 && p[i] < n,
               "[{}] index {} (at position {}) is out of range for dim {} of size {} (input {}, index {})", op, p[i], i,
               dim, n, shape_str(x.shape()), shape_str(index.shape()));
}

struct Layout {
  int64_t outer = 1, n = 1, inner = 1;
};
Layout layout_of(const Shape& shape, int64_t d) {
  Layout l;
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    if (i < d)
      l.outer *= shape[i];
    else if (i == d)
      l.n = shape[i];
    else
      l.inner *= shape[i];
  }
  return l;
}

// index of `dim`'s rank for gather/scatter: same rank, no larger than `x` on dims other than dim.
void check_gather_shapes(const char* op, const Tensor& x, const Tensor& index, int64_t d) {
  RESA_CHECK(index.dim() == x.dim(), "[{}] index {} must have the rank of input {}", op, shape_str(index.shape()),
             shape_str(x.shape()));
  for (int64_t i = 0; i < x.dim(); ++i)
    RESA_CHECK(i == d || index.shape()[i] <= x.shape()[i],
               "[{}] index {} is larger than input {} at dim {} (only dim {} may differ)", op, shape_str(index.shape()),
               shape_str(x.shape()), i, d);
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  RESA_CHECK(!tensors.empty(), "[cat] needs at least one tensor");
  const Tensor& first = tensors[0];
  RESA_CHECK(first.dim() > 0, "[cat] cannot concatenate 0-dim tensors; use stack");
  const int64_t d = wrap_dim(dim, first.dim(), "cat");
  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const Tensor& x = tensors[t];
    check_same_dtype("cat", first, x);
    check_same_device("cat", first, x);
    bool ok = x.dim() == first.dim();
    for (int64_t i = 0; ok && i < x.dim(); ++i) ok = i == d || x.shape()[i] == first.shape()[i];
    RESA_CHECK(ok, "[cat] tensor {} has shape {}, which differs from tensor 0's {} outside dim {}", t,
               shape_str(x.shape()), shape_str(first.shape()), d);
    out_shape[d] += x.shape()[d];
  }
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  int64_t start = 0;
  for (const Tensor& x : tensors) {
    if (x.numel() > 0) {
      Tensor part = Tensor::make_view(out, x.shape(), out.strides(), out.offset() + start * out.strides()[d]);
      copy(part, x);  // copy dispatches by device
    }
    start += x.shape()[d];
  }
  return out;
}

Tensor index_select(const Tensor& x_in, int64_t dim, const Tensor& index_in) {
  const char* op = "index_select";
  check_index_dtype(op, index_in, x_in);
  RESA_CHECK(index_in.dim() <= 1, "[{}] index must be 1-D, got {} for input {}", op, shape_str(index_in.shape()),
             shape_str(x_in.shape()));
  const int64_t d = index_dim(dim, x_in.dim(), op);
  Tensor x = contiguous_of(x_in), index = contiguous_of(index_in);
  Layout l = layout_of(x.shape(), d);
  check_bounds(op, to_device(index, kCPU), l.n, d, x);  // on a host copy of a device index
  const int64_t k = index.numel();
  Shape out_shape = x.shape();
  if (!out_shape.empty()) out_shape[d] = k;
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  RESA_BACKEND_CALL(x.device(), op, index_select, x.dtype(), l.outer, l.n, l.inner, k, index.data<int64_t>(),
                    x.raw_data(), out.raw_data());
  return out;
}

void index_add_(const Tensor& dst, int64_t dim, const Tensor& index_in, const Tensor& src_in) {
  const char* op = "index_add";
  check_index_dtype(op, index_in, dst);
  check_same_dtype(op, dst, src_in);
  check_same_device(op, dst, src_in);
  RESA_CHECK(dst.is_contiguous(), "[{}] destination {} must be contiguous", op, shape_str(dst.shape()));
  RESA_CHECK(index_in.dim() <= 1, "[{}] index must be 1-D, got {} for destination {}", op, shape_str(index_in.shape()),
             shape_str(dst.shape()));
  const int64_t d = index_dim(dim, dst.dim(), op);
  const int64_t k = index_in.numel();
  Shape want = dst.shape();
  if (!want.empty()) want[d] = k;
  RESA_CHECK(src_in.shape() == want, "[{}] source {} must be {} for destination {} and index {} along dim {}", op,
             shape_str(src_in.shape()), shape_str(want), shape_str(dst.shape()), shape_str(index_in.shape()), d);
  Tensor src = contiguous_of(src_in), index = contiguous_of(index_in);
  Layout l = layout_of(dst.shape(), d);
  check_bounds(op, to_device(index, kCPU), l.n, d, dst);  // on a host copy of a device index
  RESA_BACKEND_CALL(dst.device(), op, index_add, dst.dtype(), l.outer, l.n, l.inner, k, index.data<int64_t>(),
                    src.raw_data(), dst.raw_data());
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index_in) {
  const char* op = "gather";
  check_index_dtype(op, index_in, x);
  const int64_t d = index_dim(dim, x.dim(), op);
  check_gather_shapes(op, x, index_in, d);
  Tensor index = contiguous_of(index_in);
  check_bounds(op, to_device(index, kCPU), x.dim() == 0 ? 1 : x.shape()[d], d, x);  // on a host copy of a device index
  Tensor out = Tensor::empty(index.shape(), x.dtype(), x.device());
  RESA_BACKEND_CALL(x.device(), op, gather, x.dtype(), d, index.shape(), index.data<int64_t>(), x.raw_data(),
                    x.strides(), out.raw_data());
  return out;
}

void scatter_add_(const Tensor& dst, int64_t dim, const Tensor& index_in, const Tensor& src_in) {
  const char* op = "scatter_add";
  check_index_dtype(op, index_in, dst);
  check_same_dtype(op, dst, src_in);
  check_same_device(op, dst, src_in);
  RESA_CHECK(dst.is_contiguous(), "[{}] destination {} must be contiguous", op, shape_str(dst.shape()));
  const int64_t d = index_dim(dim, dst.dim(), op);
  check_gather_shapes(op, dst, index_in, d);
  RESA_CHECK(src_in.shape() == index_in.shape(), "[{}] source {} must have the shape of index {}", op,
             shape_str(src_in.shape()), shape_str(index_in.shape()));
  Tensor src = contiguous_of(src_in), index = contiguous_of(index_in);
  check_bounds(op, to_device(index, kCPU), dst.dim() == 0 ? 1 : dst.shape()[d], d,
               dst);  // on a host copy of a device index
  RESA_BACKEND_CALL(dst.device(), op, scatter_add, dst.dtype(), d, index.shape(), index.data<int64_t>(), src.raw_data(),
                    dst.raw_data(), dst.strides());
}

}  // namespace resa::ops
