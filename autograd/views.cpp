// Views share storage with their base; each records a backward that maps the gradient back to the
// base's shape. Copies (contiguous, clone, to) record identity-like backwards.
#include <numeric>

#include "resa/autograd/elementwise.h"
#include "resa/autograd/engine.h"
#include "resa/autograd/linalg.h"
#include "resa/autograd/reduce.h"
#include "resa/core/views.h"
#include "resa/ops/elementwise.h"

namespace resa {

using autograd::record;

namespace {

Tensor reshape_record(const Tensor& x, Tensor out, const char* name) {
  return record(out, name, {x}, [s = x.shape()](const Tensor& g) { return std::vector<Tensor>{g.reshape(s)}; });
}

}  // namespace

Tensor Tensor::view(const Shape& shape) const { return reshape_record(*this, reshape_view(*this, shape), "view"); }

Tensor Tensor::reshape(const Shape& shape) const {
  Shape s = infer_shape(shape, numel(), "reshape", this->shape());
  auto st = view_strides(this->shape(), strides(), s);
  if (st) return reshape_record(*this, make_view(*this, s, *st, offset()), "reshape");
  Tensor c = ops::contiguous_copy(*this);
  return reshape_record(*this, make_view(c, s, contiguous_strides(s), c.offset()), "reshape");
}

Tensor Tensor::permute(const Shape& dims) const {
  RESA_CHECK(static_cast<int64_t>(dims.size()) == dim(), "[permute] {} dims given for a tensor of shape {}",
             dims.size(), shape_str(shape()));
  Shape s(dims.size()), st(dims.size()), inverse(dims.size());
  std::vector<bool> used(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], dim(), "permute");
    RESA_CHECK(!used[d], "[permute] dim {} repeated in {}", d, shape_str(dims));
    used[d] = true;
    s[i] = shape()[d];
    st[i] = strides()[d];
    inverse[d] = static_cast<int64_t>(i);
  }
  return record(make_view(*this, s, st, offset()), "permute", {*this},
                [inverse](const Tensor& g) { return std::vector<Tensor>{g.permute(inverse)}; });
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  Shape dims(dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[wrap_dim(d0, dim(), "transpose")], dims[wrap_dim(d1, dim(), "transpose")]);
  return permute(dims);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d, dim(), "slice");
  const int64_t n = shape()[d];
  RESA_CHECK(step >= 1, "[slice] step must be positive, got {}", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape(), st = strides();
  s[d] = (end - start + step - 1) / step;
  st[d] *= step;
  Tensor out = make_view(*this, s, st, offset() + start * strides()[d]);
  return record(out, "slice", {*this}, [in_shape = shape(), d, start, end, step](const Tensor& g) {
    Tensor full_grad = zeros(in_shape, TensorOptions().dtype(g.dtype()).device(g.device()));
    full_grad.slice(d, start, end, step).copy_(g);
    return std::vector<Tensor>{full_grad};
  });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  RESA_CHECK(start >= 0 && length >= 0 && start + length <= shape()[d],
             "[narrow] range [{}, {}) is out of bounds for dim {} of size {} in shape {}", start, start + length, d,
             shape()[d], shape_str(shape()));
  return slice(d, start, start + length, 1);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  int64_t n = shape()[d];
  if (index < 0) index += n;
  RESA_CHECK(index >= 0 && index < n, "[select] index {} is out of range for dim {} of size {}", index, d, n);
  return narrow(d, index, 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& shape) const {
  return record(expand_view(*this, shape), "expand", {*this},
                [in_shape = this->shape()](const Tensor& g) { return std::vector<Tensor>{sum_to(g, in_shape)}; });
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  if (shape()[d] != 1) return *this;  // as PyTorch: squeezing a dim that is not 1 is a no-op
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return reshape_record(*this, make_view(*this, s, st, offset()), "squeeze");
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape(), st = strides();
  int64_t stride = d < dim() ? shape()[d] * strides()[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return reshape_record(*this, make_view(*this, s, st, offset()), "unsqueeze");
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  start_dim = wrap_dim(start_dim, dim(), "flatten");
  end_dim = wrap_dim(end_dim, dim(), "flatten");
  RESA_CHECK(start_dim <= end_dim, "[flatten] start_dim {} is after end_dim {}", start_dim, end_dim);
  Shape s;
  for (int64_t i = 0; i < start_dim; ++i) s.push_back(shape()[i]);
  int64_t m = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) m *= shape()[i];
  s.push_back(m);
  for (int64_t i = end_dim + 1; i < dim(); ++i) s.push_back(shape()[i]);
  return reshape(s);
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  return record(ops::contiguous_copy(*this), "clone", {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor out = Tensor::empty(shape(), dtype(), d);
  ops::copy(out, *this);
  return record(out, "to_device", {*this},
                [src = device()](const Tensor& g) { return std::vector<Tensor>{g.to(src)}; });
}

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  Tensor out = Tensor::empty(shape(), t, device());
  ops::copy(out, *this);
  if (!is_floating(t)) return out;  // integer results carry no gradient
  return record(out, "to_dtype", {*this}, [src = dtype()](const Tensor& g) { return std::vector<Tensor>{g.to(src)}; });
}

Tensor Tensor::detach() const { return alias(*this); }

Tensor Tensor::sum(const std::vector<int64_t>& dims, bool keepdim) const { return resa::sum(*this, dims, keepdim); }
Tensor Tensor::mean(const std::vector<int64_t>& dims, bool keepdim) const { return resa::mean(*this, dims, keepdim); }
Tensor Tensor::matmul(const Tensor& other) const { return resa::matmul(*this, other); }

}  // namespace resa
