#include "resa/core/views.h"

namespace resa {

std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape) {
  // Groups of old dims that are contiguous among themselves map onto groups of new dims with the same
  // number of elements.
  Shape strides(shape.size());
  if (numel_of(old_shape) == 0 || old_shape.empty()) return contiguous_strides(shape);
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

Shape infer_shape(const Shape& shape, int64_t numel, const char* op, const Shape& from) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      RESA_CHECK(infer < 0, "[{}] only one dim may be -1 in {}", op, shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      RESA_CHECK(out[i] >= 0, "[{}] invalid size in shape {}", op, shape_str(shape));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    RESA_CHECK(known != 0 && numel % known == 0, "[{}] shape {} is invalid for input {} of {} elements", op,
               shape_str(shape), shape_str(from), numel);
    out[infer] = numel / known;
  }
  RESA_CHECK(numel_of(out) == numel, "[{}] shape {} is invalid for input {} of {} elements", op, shape_str(shape),
             shape_str(from), numel);
  return out;
}

Tensor reshape_view(const Tensor& x, const Shape& shape, const char* op) {
  Shape s = infer_shape(shape, x.numel(), op, x.shape());
  auto st = view_strides(x.shape(), x.strides(), s);
  RESA_CHECK(st.has_value(), "[{}] cannot view tensor of shape {} and strides {} as {}; use reshape()", op,
             shape_str(x.shape()), shape_str(x.strides()), shape_str(s));
  return Tensor::make_view(x, s, *st, x.offset());
}

Tensor expand_view(const Tensor& x, const Shape& shape) {
  RESA_CHECK(shape.size() >= static_cast<size_t>(x.dim()), "[expand] cannot expand shape {} to fewer dims {}",
             shape_str(x.shape()), shape_str(shape));
  size_t lead = shape.size() - x.dim();
  Shape s(shape.size()), st(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      RESA_CHECK(shape[i] >= 0, "[expand] invalid size {} in {}", shape[i], shape_str(shape));
      s[i] = shape[i];
      continue;
    }
    int64_t have = x.shape()[i - lead];
    int64_t want = shape[i] == -1 ? have : shape[i];
    RESA_CHECK(have == want || have == 1, "[expand] cannot expand shape {} to {}", shape_str(x.shape()),
               shape_str(shape));
    s[i] = want;
    st[i] = have == want ? x.strides()[i - lead] : 0;
  }
  return Tensor::make_view(x, s, st, x.offset());
}

}  // namespace resa
