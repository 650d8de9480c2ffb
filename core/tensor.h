// Tensor: a cheap handle (copying it shares data) over a TensorImpl that views a reference-counted
// Storage with a shape, strides (in elements), an offset, a dtype and a device.
//
// core/ holds the autograd *slot* of a tensor (requires_grad, grad, the node that produced it); how
// backward runs lives in autograd/. Methods that compute (reshape, sum, ...) are declared here and
// defined in autograd/, where they record themselves for backward.
#pragma once
#include <initializer_list>
#include <memory>
#include <optional>
#include <vector>

#include "resa/core/dtype.h"
#include "resa/core/options.h"
#include "resa/core/shape.h"
#include "resa/core/storage.h"

namespace resa {

namespace autograd {
struct Node;
}
class Tensor;

struct AutogradMeta {
  bool requires_grad = false;
  std::shared_ptr<Tensor> grad;             // accumulated gradient of a leaf (or retained)
  std::shared_ptr<autograd::Node> grad_fn;  // the node that produced this tensor (null for leaves)
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;
  AutogradMeta autograd;
};

// Options for factories, with chained setters: zeros({2, 3}, TensorOptions().dtype(DType::Float64)).
struct TensorOptions {
  RESA_OPTION(DType, dtype, DType::Float32);
  RESA_OPTION(Device, device, kCPU);
  RESA_FLAG(requires_grad, false);
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Allocates uninitialised memory for `shape` (contiguous).
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = kCPU);
  // A CPU tensor in page-locked host memory (see pinned_allocator()), so that to(cuda) from it runs
  // asynchronously. Without the CUDA backend or without a device it is ordinary memory (is_pinned() is
  // false then). Before writing into it after a to(cuda), call wait_host_buffer(raw_data()).
  static Tensor empty_pinned(const Shape& shape, DType dtype = DType::Float32);
  // A new handle viewing `base`'s storage with another geometry (no autograd recorded).
  static Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl()->shape; }
  const Shape& strides() const { return impl()->strides; }
  int64_t dim() const { return static_cast<int64_t>(impl()->shape.size()); }
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t numel() const { return numel_of(impl()->shape); }
  int64_t offset() const { return impl()->offset; }
  DType dtype() const { return impl()->dtype; }
  Device device() const { return impl()->storage->device(); }
  bool is_contiguous() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }
  const std::shared_ptr<Storage>& storage() const { return impl()->storage; }
  bool is_pinned() const { return impl()->storage->pinned(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

  // Pointer to the first element (storage + offset). data<T>() checks that T matches the dtype.
  void* raw_data() const;
  template <typename T>
  T* data() const {
    RESA_CHECK(dtype_of<T>::value == dtype(), "[data] tensor has dtype {}, asked for {}", dtype_name(dtype()),
               dtype_name(dtype_of<T>::value));
    return static_cast<T*>(raw_data());
  }

  // ---- autograd slot ----
  bool requires_grad() const { return impl()->autograd.requires_grad; }
  Tensor& requires_grad_(bool r = true);
  bool is_leaf() const { return impl()->autograd.grad_fn == nullptr; }
  Tensor grad() const;  // undefined when none has been accumulated
  void set_grad(const Tensor& g);
  void zero_grad() { impl()->autograd.grad.reset(); }
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl()->autograd.grad_fn; }
  void set_grad_fn(std::shared_ptr<autograd::Node> fn) { impl()->autograd.grad_fn = std::move(fn); }
  // Runs reverse-mode differentiation from this tensor (autograd/engine.cpp). A scalar needs no gradient.
  void backward(const Tensor& grad = {}, bool retain_graph = false) const;

  // ---- views (share storage; differentiable; defined in autograd/views.cpp) ----
  Tensor reshape(const Shape& shape) const;  // a view when the strides allow, a copy otherwise
  Tensor view(const Shape& shape) const;     // always a view; throws when the strides do not allow
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // narrow + squeeze
  Tensor expand(const Shape& shape) const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor contiguous() const;  // this tensor if already contiguous, else a copy
  Tensor clone() const;       // always a copy
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor detach() const;  // shares storage, no grad_fn, requires_grad false

  // ---- math as methods (defined in autograd/) ----
  Tensor sum(const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
  Tensor mean(const std::vector<int64_t>& dims = {}, bool keepdim = false) const;
  Tensor matmul(const Tensor& other) const;
  Tensor pow(double exponent) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor relu() const;

  // The value of a one-element tensor, as double (copied to the host if needed).
  double item() const;
  // All elements, contiguous, copied to the host and converted to T.
  template <typename T>
  std::vector<T> to_vector() const;

  // ---- in-place, never recorded (optimizers, initialisers, buffers) ----
  Tensor& zero_();
  Tensor& fill_(double value);
  Tensor& copy_(const Tensor& src);  // src broadcast to this shape; any device/dtype

 private:
  TensorImpl* impl() const {
    RESA_CHECK(impl_ != nullptr, "[tensor] use of an undefined tensor");
    return impl_.get();
  }
  std::shared_ptr<TensorImpl> impl_;
};

// ---- factories (core/factory.cpp) ----
// A contiguous tensor's bytes copied to `device` (no gradient history): how the factories, which fill
// on the host, reach a device without depending on the ops layer.
Tensor copy_contiguous_to(const Tensor& t, Device device);
Tensor zeros(const Shape& shape, const TensorOptions& opts = {});
Tensor ones(const Shape& shape, const TensorOptions& opts = {});
Tensor full(const Shape& shape, double value, const TensorOptions& opts = {});
Tensor arange(double start, double end, double step = 1.0, const TensorOptions& opts = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor scalar_tensor(double value, const TensorOptions& opts = {});
// Copies numel(shape) host elements into a new tensor; its dtype is T's (opts.dtype is not used).
template <typename T>
Tensor from_host(const T* data, const Shape& shape, const TensorOptions& opts = {});
template <typename T>
Tensor from_vector(const std::vector<T>& v, const Shape& shape, const TensorOptions& opts = {}) {
  return from_host<T>(v.data(), shape, opts);
}

}  // namespace resa
