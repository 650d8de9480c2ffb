// CUDA elementwise kernels: binary ops with broadcasting, unary ops, where, strided dtype-converting copy.
// The unary and binary formulas are the rows of the op tables (ops/elementwise_ops.h), the CPU's too,
// evaluated with CUDA's math library (DeviceMath), so both backends agree to the last few ulps of it.
#include "resa/ops/cuda/loops.cuh"  // first: see there

#include "resa/ops/cuda/kernels.h"

namespace resa::cuda {
namespace {

using ops::BinaryOp;
using ops::UnaryOp;

// ---- the math the op table's formulas call on the device (ops/elementwise_ops.h), one overload per type ----
struct DeviceMath {
  static __host__ __device__ __forceinline__ float exp(float x) { return expf(x); }
  static __host__ __device__ __forceinline__ double exp(double x) { return ::exp(x); }
  static __host__ __device__ __forceinline__ float log(float x) { return logf(x); }
  static __host__ __device__ __forceinline__ double log(double x) { return ::log(x); }
  static __host__ __device__ __forceinline__ float sqrt(float x) { return sqrtf(x); }
  static __host__ __device__ __forceinline__ double sqrt(double x) { return ::sqrt(x); }
  static __host__ __device__ __forceinline__ float abs(float x) { return fabsf(x); }
  static __host__ __device__ __forceinline__ double abs(double x) { return ::fabs(x); }
  static __host__ __device__ __forceinline__ float tanh(float x) { return tanhf(x); }
  static __host__ __device__ __forceinline__ double tanh(double x) { return ::tanh(x); }
  static __host__ __device__ __forceinline__ float pow(float x, float p) { return powf(x, p); }
  static __host__ __device__ __forceinline__ double pow(double x, double p) { return ::pow(x, p); }
  // std::max / std::min exactly: NaN in the first argument stays NaN.
  template <typename T>
  static __host__ __device__ __forceinline__ T max(T a, T b) {
    return a < b ? b : a;
  }
  template <typename T>
  static __host__ __device__ __forceinline__ T min(T a, T b) {
    return b < a ? b : a;
  }
};

// ---- kernels ----
template <typename T, typename F>
__global__ void binary_flat_kernel(int64_t n, T* __restrict__ out, const T* __restrict__ a, const T* __restrict__ b,
                                   F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = f(a[i], b[i]);
}

template <typename T, typename I, typename F>
__global__ void binary_strided_kernel(Geometry<3> g, T* __restrict__ out, const T* __restrict__ a,
                                      const T* __restrict__ b, F f) {
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < I(g.numel); i += I(gridDim.x) * I(blockDim.x)) {
    int64_t off[3];
    g.offsets(i, off);
    out[off[0]] = f(a[off[1]], b[off[2]]);
  }
}

template <typename T, typename F>
__global__ void unary_kernel(int64_t n, T* __restrict__ out, const T* __restrict__ x, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = f(x[i]);
}

template <typename T, typename I>
__global__ void where_kernel(Geometry<4> g, T* __restrict__ out, const T* __restrict__ c, const T* __restrict__ a,
                             const T* __restrict__ b) {
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < I(g.numel); i += I(gridDim.x) * I(blockDim.x)) {
    int64_t off[4];
    g.offsets(i, off);
    out[off[0]] = c[off[1]] != T(0) ? a[off[2]] : b[off[3]];
  }
}

template <typename D, typename S>
__global__ void copy_flat_kernel(int64_t n, D* __restrict__ dst, const S* __restrict__ src) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = static_cast<D>(src[i]);
}

template <typename D, typename S, typename I>
__global__ void copy_strided_kernel(Geometry<2> g, D* __restrict__ dst, const S* __restrict__ src) {
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < I(g.numel); i += I(gridDim.x) * I(blockDim.x)) {
    int64_t off[2];
    g.offsets(i, off);
    dst[off[0]] = static_cast<D>(src[off[1]]);
  }
}

// ---- host-side dispatch ----
template <typename T, BinaryOp OP>
void launch_binary(const Geometry<3>& g, T* out, const T* a, const T* b) {
  ops::BinaryFn<T, DeviceMath, OP> f;
  if (g.numel == 0) return;
  if (g.flat) {
    binary_flat_kernel<<<grid_for(g.numel), kBlock, 0, stream()>>>(g.numel, out, a, b, f);
  } else if (g.fits_32bit) {
    binary_strided_kernel<T, uint32_t><<<grid_for(g.numel), kBlock, 0, stream()>>>(g, out, a, b, f);
  } else {
    binary_strided_kernel<T, int64_t><<<grid_for(g.numel), kBlock, 0, stream()>>>(g, out, a, b, f);
  }
  RESA_CUDA_LAUNCH_CHECK("binary kernel");
}

template <typename T>
void binary_typed(BinaryOp op, const Geometry<3>& g, T* out, const T* a, const T* b) {
  switch (op) {
#define RESA_CUDA_BINARY_CASE_(Name, str, formula) \
  case BinaryOp::Name:                             \
    return launch_binary<T, BinaryOp::Name>(g, out, a, b);
    RESA_BINARY_OPS(RESA_CUDA_BINARY_CASE_)
#undef RESA_CUDA_BINARY_CASE_
  }
  RESA_FAIL("[binary] unknown op {} (not a row of RESA_BINARY_OPS)", static_cast<int>(op));
}

template <typename T, typename F>
void launch_unary(int64_t n, T* out, const T* x, F f) {
  unary_kernel<<<grid_for(n), kBlock, 0, stream()>>>(n, out, x, f);
  RESA_CUDA_LAUNCH_CHECK("unary kernel");
}

template <typename T>
void unary_typed(UnaryOp op, int64_t n, T* out, const T* x, double p0d, double p1d) {
  const T p0 = static_cast<T>(p0d), p1 = static_cast<T>(p1d);
  if (ops::unary_square_fast_path(op, p0d)) return launch_unary(n, out, x, ops::SquareFn<T>{});
  switch (op) {
#define RESA_CUDA_UNARY_CASE_(Name, str, formula) \
  case UnaryOp::Name:                             \
    return launch_unary(n, out, x, ops::UnaryFn<T, DeviceMath, UnaryOp::Name>{p0, p1});
    RESA_UNARY_OPS(RESA_CUDA_UNARY_CASE_)
#undef RESA_CUDA_UNARY_CASE_
  }
  RESA_FAIL("[unary] unknown op {} (not a row of RESA_UNARY_OPS)", static_cast<int>(op));
}

template <typename D, typename S>
void copy_typed(const Geometry<2>& g, D* dst, const S* src) {
  if (g.numel == 0) return;
  if (g.flat) {
    copy_flat_kernel<<<grid_for(g.numel), kBlock, 0, stream()>>>(g.numel, dst, src);
  } else if (g.fits_32bit) {
    copy_strided_kernel<D, S, uint32_t><<<grid_for(g.numel), kBlock, 0, stream()>>>(g, dst, src);
  } else {
    copy_strided_kernel<D, S, int64_t><<<grid_for(g.numel), kBlock, 0, stream()>>>(g, dst, src);
  }
  RESA_CUDA_LAUNCH_CHECK("copy kernel");
}

}  // namespace

void binary(ops::BinaryOp op, DType dtype, const Dims& shape, void* out, const void* a, const Dims& sa, const void* b,
            const Dims& sb) {
  Dims so = contiguous_strides(shape);
  auto g = make_geometry<3>(shape, {&so, &sa, &sb}, ops::op_name(op));
  RESA_DISPATCH_ALL(dtype, ops::op_name(op), [&] {
    binary_typed<scalar_t>(op, g, static_cast<scalar_t*>(out), static_cast<const scalar_t*>(a),
                           static_cast<const scalar_t*>(b));
  });
}

void unary(ops::UnaryOp op, DType dtype, int64_t n, void* out, const void* x, double p0, double p1) {
  if (n == 0) return;
  RESA_DISPATCH_FLOAT(dtype, ops::op_name(op), [&] {
    unary_typed<scalar_t>(op, n, static_cast<scalar_t*>(out), static_cast<const scalar_t*>(x), p0, p1);
  });
}

void where(DType dtype, const Dims& shape, void* out, const void* cond, const Dims& sc, const void* a, const Dims& sa,
           const void* b, const Dims& sb) {
  Dims so = contiguous_strides(shape);
  auto g = make_geometry<4>(shape, {&so, &sc, &sa, &sb}, "where");
  if (g.numel == 0) return;
  RESA_DISPATCH_ALL(dtype, "where", [&] {
    auto* o = static_cast<scalar_t*>(out);
    auto* c = static_cast<const scalar_t*>(cond);
    auto* pa = static_cast<const scalar_t*>(a);
    auto* pb = static_cast<const scalar_t*>(b);
    if (g.fits_32bit)
      where_kernel<scalar_t, uint32_t><<<grid_for(g.numel), kBlock, 0, stream()>>>(g, o, c, pa, pb);
    else
      where_kernel<scalar_t, int64_t><<<grid_for(g.numel), kBlock, 0, stream()>>>(g, o, c, pa, pb);
    RESA_CUDA_LAUNCH_CHECK("where_kernel");
  });
}

void copy(const Dims& shape, void* dst, DType dst_dtype, const Dims& sd, const void* src, DType src_dtype,
          const Dims& ss) {
  auto g = make_geometry<2>(shape, {&sd, &ss}, "copy_");
  RESA_DISPATCH_ALL(dst_dtype, "copy_", [&] {
    using D = scalar_t;
    RESA_DISPATCH_ALL(src_dtype, "copy_",
                      [&] { copy_typed<D, scalar_t>(g, static_cast<D*>(dst), static_cast<const scalar_t*>(src)); });
  });
}

}  // namespace resa::cuda
