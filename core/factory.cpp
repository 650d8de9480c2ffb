// Factories fill on the host, then move to the asked device.
#include <cmath>

#include "resa/core/tensor.h"

namespace resa {
namespace {
Tensor finish(Tensor t, const TensorOptions& opts) {
  if (!opts.device_.is_cpu()) t = copy_contiguous_to(t, opts.device_);
  if (opts.requires_grad_) t.requires_grad_(true);
  return t;
}
}  // namespace

Tensor copy_contiguous_to(const Tensor& t, Device device) {
  RESA_CHECK(t.is_contiguous(), "[copy_contiguous_to] tensor of shape {} is not contiguous", shape_str(t.shape()));
  Tensor out = Tensor::empty(t.shape(), t.dtype(), device);
  copy_bytes(out.raw_data(), device, t.raw_data(), t.device(), t.nbytes());
  return out;
}

Tensor full(const Shape& shape, double value, const TensorOptions& opts) {
  Tensor t = Tensor::empty(shape, opts.dtype_, kCPU);
  RESA_DISPATCH_ALL(opts.dtype_, "full", [&] {
    scalar_t* p = t.data<scalar_t>();
    std::fill(p, p + t.numel(), static_cast<scalar_t>(value));
  });
  return finish(t, opts);
}

Tensor zeros(const Shape& shape, const TensorOptions& opts) { return full(shape, 0.0, opts); }
Tensor ones(const Shape& shape, const TensorOptions& opts) { return full(shape, 1.0, opts); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), TensorOptions().dtype(t.dtype()).device(t.device())); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), TensorOptions().dtype(t.dtype()).device(t.device())); }
Tensor scalar_tensor(double value, const TensorOptions& opts) { return full({}, value, opts); }

Tensor arange(double start, double end, double step, const TensorOptions& opts) {
  RESA_CHECK(step != 0, "[arange] step must be non-zero");
  auto n = static_cast<int64_t>(std::ceil((end - start) / step));
  Tensor t = Tensor::empty({std::max<int64_t>(n, 0)}, opts.dtype_, kCPU);
  RESA_DISPATCH_ALL(opts.dtype_, "arange", [&] {
    scalar_t* p = t.data<scalar_t>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<scalar_t>(start + step * static_cast<double>(i));
  });
  return finish(t, opts);
}

template <typename T>
Tensor from_host(const T* data, const Shape& shape, const TensorOptions& opts) {
  Tensor t = Tensor::empty(shape, dtype_of<T>::value, kCPU);
  std::copy(data, data + t.numel(), t.data<T>());
  return finish(t, opts);
}

template Tensor from_host<float>(const float*, const Shape&, const TensorOptions&);
template Tensor from_host<double>(const double*, const Shape&, const TensorOptions&);
template Tensor from_host<int64_t>(const int64_t*, const Shape&, const TensorOptions&);
template Tensor from_host<uint8_t>(const uint8_t*, const Shape&, const TensorOptions&);

}  // namespace resa
