#include "resa/core/tensor.h"

namespace resa {

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (auto d : shape) RESA_CHECK(d >= 0, "[empty] negative size in shape {}", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(numel_of(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::empty_pinned(const Shape& shape, DType dtype) {
  for (auto d : shape) RESA_CHECK(d >= 0, "[empty_pinned] negative size in shape {}", shape_str(shape));
  Allocator* pinned = pinned_allocator();
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(numel_of(shape)) * dtype_size(dtype), kCPU,
                                            pinned != nullptr ? pinned : cpu_allocator());
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(storage()->data()) + offset() * static_cast<int64_t>(dtype_size(dtype()));
}

Tensor& Tensor::requires_grad_(bool r) {
  RESA_CHECK(!r || is_floating(dtype()), "[requires_grad_] only floating tensors can require grad, got {}",
             dtype_name(dtype()));
  impl()->autograd.requires_grad = r;
  return *this;
}

Tensor Tensor::grad() const {
  auto& g = impl()->autograd.grad;
  return g ? *g : Tensor();
}

void Tensor::set_grad(const Tensor& g) {
  if (!g.defined()) {
    impl()->autograd.grad.reset();
    return;
  }
  RESA_CHECK(g.shape() == shape(), "[set_grad] gradient shape {} differs from tensor shape {}", shape_str(g.shape()),
             shape_str(shape()));
  impl()->autograd.grad = std::make_shared<Tensor>(g);
}

}  // namespace resa
