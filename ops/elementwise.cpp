#include "resa/ops/elementwise.h"

#include "resa/ops/cpu/elementwise.h"
#include "resa/ops/dispatch.h"
#ifdef RESA_WITH_CUDA
#include "resa/ops/cuda/kernels.h"
#endif

namespace resa::ops {

const char* op_name(BinaryOp op) {
  RESA_CHECK(is_valid(op), "[binary] unknown op {} (not a row of RESA_BINARY_OPS)", static_cast<int>(op));
  return kBinaryOpNames[static_cast<int>(op)];
}

const char* op_name(UnaryOp op) {
  RESA_CHECK(is_valid(op), "[unary] unknown op {} (not a row of RESA_UNARY_OPS)", static_cast<int>(op));
  return kUnaryOpNames[static_cast<int>(op)];
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  RESA_CHECK(a.device() == b.device(), "[{}] tensors are on different devices: {} on {} and {} on {}", op,
             shape_str(a.shape()), a.device().str(), shape_str(b.shape()), b.device().str());
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  RESA_CHECK(a.dtype() == b.dtype(), "[{}] dtypes differ: {} is {} and {} is {}", op, shape_str(a.shape()),
             dtype_name(a.dtype()), shape_str(b.shape()), dtype_name(b.dtype()));
}

void check_floating(const char* op, const Tensor& x) {
  RESA_CHECK(is_floating(x.dtype()), "[{}] expects a float32 or float64 tensor, got {} of shape {}", op,
             dtype_name(x.dtype()), shape_str(x.shape()));
}

namespace {
// Strides that read `t` as if it had been expanded to `shape` (0 on broadcast dims).
Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape st(shape.size(), 0);
  size_t lead = shape.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i) st[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return st;
}
}  // namespace

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = op_name(op);
  check_same_device(name, a, b);
  check_same_dtype(name, a, b);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  RESA_BACKEND_CALL(a.device(), name, binary, op, a.dtype(), shape, out.raw_data(), a.raw_data(),
                    broadcast_strides(a, shape), b.raw_data(), broadcast_strides(b, shape));
  return out;
}

Tensor unary(UnaryOp op, const Tensor& x, double p0, double p1) {
  const char* name = op_name(op);
  check_floating(name, x);
  Tensor in = x.is_contiguous() ? x : contiguous_copy(x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  RESA_BACKEND_CALL(x.device(), name, unary, op, x.dtype(), x.numel(), out.raw_data(), in.raw_data(), p0, p1);
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_device("where", a, b);
  check_same_device("where", cond, a);
  check_same_dtype("where", a, b);
  check_same_dtype("where", cond, a);
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  RESA_BACKEND_CALL(a.device(), "where", where, a.dtype(), shape, out.raw_data(), cond.raw_data(),
                    broadcast_strides(cond, shape), a.raw_data(), broadcast_strides(a, shape), b.raw_data(),
                    broadcast_strides(b, shape));
  return out;
}

void copy(const Tensor& dst, const Tensor& src) {
  Shape bshape = broadcast_shapes(dst.shape(), src.shape(), "copy_");
  RESA_CHECK(bshape == dst.shape(), "[copy_] source of shape {} cannot be broadcast to destination shape {}",
             shape_str(src.shape()), shape_str(dst.shape()));
  Shape ss = broadcast_strides(src, dst.shape());
  if (dst.device() == src.device()) {
    RESA_BACKEND_CALL(dst.device(), "copy_", copy, dst.shape(), dst.raw_data(), dst.dtype(), dst.strides(),
                      src.raw_data(), src.dtype(), ss);
    return;
  }
  // Across devices, same dtype and layout: move the bytes directly. Besides saving a copy, this keeps the
  // source buffer itself in the transfer, which is what makes a copy from a pinned host tensor (a loader
  // batch) asynchronous; staging it through a fresh pageable buffer would make it synchronous.
  if (src.dtype() == dst.dtype() && src.shape() == dst.shape() && src.is_contiguous() && dst.is_contiguous()) {
    copy_bytes(dst.raw_data(), dst.device(), src.raw_data(), src.device(), dst.nbytes());
    return;
  }
  // Across devices: make a contiguous source of dst's dtype and shape on its own device, move the
  // bytes, then copy into dst's layout on dst's device.
  Tensor staged = Tensor::empty(dst.shape(), dst.dtype(), src.device());
  copy(staged, src);
  if (dst.is_contiguous()) {
    copy_bytes(dst.raw_data(), dst.device(), staged.raw_data(), staged.device(), dst.nbytes());
    return;
  }
  Tensor moved = Tensor::empty(dst.shape(), dst.dtype(), dst.device());
  copy_bytes(moved.raw_data(), moved.device(), staged.raw_data(), staged.device(), dst.nbytes());
  copy(dst, moved);
}

Tensor contiguous_copy(const Tensor& src) {
  Tensor out = Tensor::empty(src.shape(), src.dtype(), src.device());
  copy(out, src);
  return out;
}

Tensor to_device(const Tensor& src, Device device) {
  if (src.device() == device) return contiguous_of(src);
  Tensor out = Tensor::empty(src.shape(), src.dtype(), device);
  copy(out, src);
  return out;
}

}  // namespace resa::ops

namespace resa {

Tensor& Tensor::copy_(const Tensor& src) {
  ops::copy(*this, src);
  return *this;
}

Tensor& Tensor::fill_(double value) {
  ops::copy(*this, full({}, value, TensorOptions().dtype(dtype()).device(device())));
  return *this;
}

Tensor& Tensor::zero_() { return fill_(0.0); }

double Tensor::item() const {
  RESA_CHECK(numel() == 1, "[item] tensor of shape {} has {} elements, not one", shape_str(shape()), numel());
  Tensor host = Tensor::empty({}, DType::Float64, kCPU);
  ops::copy(host, Tensor::make_view(*this, {}, {}, offset()));
  return *host.data<double>();
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = Tensor::empty(shape(), dtype_of<T>::value, kCPU);
  ops::copy(host, *this);
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}

template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

}  // namespace resa
