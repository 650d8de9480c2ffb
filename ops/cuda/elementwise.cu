// CUDA elementwise kernels: binary ops with broadcasting, unary ops, where, strided dtype-converting copy.
// The formulas are the CPU ones (ops/cpu/elementwise.cpp) written for the device, so both agree to the
// last few ulps of the math library.
#include "resa/ops/cuda/loops.cuh"  // first: see there
#include "resa/ops/cuda/kernels.h"

namespace resa::cuda {
namespace {

using ops::BinaryOp;
using ops::UnaryOp;

// ---- device math, one overload per type ----
__device__ __forceinline__ float d_exp(float x) { return expf(x); }
__device__ __forceinline__ double d_exp(double x) { return ::exp(x); }
__device__ __forceinline__ float d_log(float x) { return logf(x); }
__device__ __forceinline__ double d_log(double x) { return ::log(x); }
__device__ __forceinline__ float d_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double d_sqrt(double x) { return ::sqrt(x); }
__device__ __forceinline__ float d_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double d_abs(double x) { return ::fabs(x); }
__device__ __forceinline__ float d_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double d_tanh(double x) { return ::tanh(x); }
__device__ __forceinline__ float d_pow(float x, float p) { return powf(x, p); }
__device__ __forceinline__ double d_pow(double x, double p) { return ::pow(x, p); }

template <typename T, BinaryOp OP>
struct BinaryFn {
  __device__ __forceinline__ T operator()(T x, T y) const {
    if constexpr (OP == BinaryOp::Add) return T(x + y);
    else if constexpr (OP == BinaryOp::Sub) return T(x - y);
    else if constexpr (OP == BinaryOp::Mul) return T(x * y);
    else if constexpr (OP == BinaryOp::Div) return T(x / y);
    else if constexpr (OP == BinaryOp::Maximum) return x >= y ? x : y;
    else if constexpr (OP == BinaryOp::Eq) return T(x == y);
    else if constexpr (OP == BinaryOp::Ne) return T(x != y);
    else if constexpr (OP == BinaryOp::Lt) return T(x < y);
    else if constexpr (OP == BinaryOp::Le) return T(x <= y);
    else if constexpr (OP == BinaryOp::Gt) return T(x > y);
    else if constexpr (OP == BinaryOp::MaskPositive) return y > T(0) ? x : T(0);
    else return T(x >= y);
  }
};

template <typename T, UnaryOp OP>
struct UnaryFn {
  T p0, p1;
  __device__ __forceinline__ T operator()(T v) const {
    if constexpr (OP == UnaryOp::Neg) return -v;
    else if constexpr (OP == UnaryOp::Exp) return d_exp(v);
    else if constexpr (OP == UnaryOp::Log) return d_log(v);
    else if constexpr (OP == UnaryOp::Sqrt) return d_sqrt(v);
    else if constexpr (OP == UnaryOp::Abs) return d_abs(v);
    else if constexpr (OP == UnaryOp::Relu) return v > T(0) ? v : T(0);
    else if constexpr (OP == UnaryOp::Sigmoid) return T(1) / (T(1) + d_exp(-v));
    else if constexpr (OP == UnaryOp::Tanh) return d_tanh(v);
    else if constexpr (OP == UnaryOp::Pow) return d_pow(v, p0);
    else if constexpr (OP == UnaryOp::Clamp) {
      T lo = v < p0 ? p0 : v;  // std::max(v, p0): NaN stays NaN
      return p1 < lo ? p1 : lo;  // std::min(lo, p1)
    }
    else if constexpr (OP == UnaryOp::AddScalar) return v + p0;
    else if constexpr (OP == UnaryOp::MulScalar) return v * p0;
    else if constexpr (OP == UnaryOp::RSub) return p0 - v;
    else if constexpr (OP == UnaryOp::RDiv) return p0 / v;
    else return v > p0 ? T(1) : T(0);  // Step
  }
};

template <typename T>
struct Square {
  __device__ __forceinline__ T operator()(T v) const { return v * v; }
};

// ---- kernels ----
template <typename T, typename F>
__global__ void binary_flat_kernel(int64_t n, T* __restrict__ out, const T* __restrict__ a,
                                   const T* __restrict__ b, F f) {
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
  BinaryFn<T, OP> f;
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
    case BinaryOp::Add: return launch_binary<T, BinaryOp::Add>(g, out, a, b);
    case BinaryOp::Sub: return launch_binary<T, BinaryOp::Sub>(g, out, a, b);
    case BinaryOp::Mul: return launch_binary<T, BinaryOp::Mul>(g, out, a, b);
    case BinaryOp::Div: return launch_binary<T, BinaryOp::Div>(g, out, a, b);
    case BinaryOp::Maximum: return launch_binary<T, BinaryOp::Maximum>(g, out, a, b);
    case BinaryOp::Eq: return launch_binary<T, BinaryOp::Eq>(g, out, a, b);
    case BinaryOp::Ne: return launch_binary<T, BinaryOp::Ne>(g, out, a, b);
    case BinaryOp::Lt: return launch_binary<T, BinaryOp::Lt>(g, out, a, b);
    case BinaryOp::Le: return launch_binary<T, BinaryOp::Le>(g, out, a, b);
    case BinaryOp::Gt: return launch_binary<T, BinaryOp::Gt>(g, out, a, b);
    case BinaryOp::Ge: return launch_binary<T, BinaryOp::Ge>(g, out, a, b);
    case BinaryOp::MaskPositive: return launch_binary<T, BinaryOp::MaskPositive>(g, out, a, b);
  }
}

template <typename T, typename F>
void launch_unary(int64_t n, T* out, const T* x, F f) {
  unary_kernel<<<grid_for(n), kBlock, 0, stream()>>>(n, out, x, f);
  RESA_CUDA_LAUNCH_CHECK("unary kernel");
}

template <typename T>
void unary_typed(UnaryOp op, int64_t n, T* out, const T* x, double p0d, double p1d) {
  const T p0 = static_cast<T>(p0d), p1 = static_cast<T>(p1d);
  switch (op) {
    case UnaryOp::Neg: return launch_unary(n, out, x, UnaryFn<T, UnaryOp::Neg>{p0, p1});
    case UnaryOp::Exp: return launch_unary(n, out, x, UnaryFn<T, UnaryOp::Exp>{p0, p1});
    case UnaryOp::Log: return launch_unary(n, out, x, UnaryFn<T, UnaryOp::Log>{p0, p1});
    case UnaryOp::Sqrt: return launch_unary(n, out, x, UnaryFn<T, UnaryOp::Sqrt>{p0, p1});
    case UnaryOp::Abs: return launch_unary(n, out, x, UnaryFn<T, UnaryOp::Abs>{p0, p1});
    case UnaryOp::Relu: return launch_unary(n, out, x, UnaryFn<T, UnaryOp::Relu>{p0, p1});
    case UnaryOp::Sigmoid: return launch_unary(n, out, x, UnaryFn<T, UnaryOp::Sigmoid>{p0, p1});
    case UnaryOp::Tanh: return launch_unary(n, out, x, UnaryFn<T, UnaryOp::Tanh>{p0, p1});
    case UnaryOp::Pow:
      if (p0d == 2.0) return launch_unary(n, out, x, Square<T>{});
      return launch_unary(n, out, x, UnaryFn<T, UnaryOp::Pow>{p0, p1});
    case UnaryOp::Clamp: return launch_unary(n, out, x, UnaryFn<T, UnaryOp::Clamp>{p0, p1});
    case UnaryOp::AddScalar: return launch_unary(n, out, x, UnaryFn<T, UnaryOp::AddScalar>{p0, p1});
    case UnaryOp::MulScalar: return launch_unary(n, out, x, UnaryFn<T, UnaryOp::MulScalar>{p0, p1});
    case UnaryOp::RSub: return launch_unary(n, out, x, UnaryFn<T, UnaryOp::RSub>{p0, p1});
    case UnaryOp::RDiv: return launch_unary(n, out, x, UnaryFn<T, UnaryOp::RDiv>{p0, p1});
    case UnaryOp::Step: return launch_unary(n, out, x, UnaryFn<T, UnaryOp::Step>{p0, p1});
  }
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

void where(DType dtype, const Dims& shape, void* out, const void* cond, const Dims& sc, const void* a,
           const Dims& sa, const void* b, const Dims& sb) {
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
    RESA_DISPATCH_ALL(src_dtype, "copy_", [&] {
      copy_typed<D, scalar_t>(g, static_cast<D*>(dst), static_cast<const scalar_t*>(src));
    });
  });
}

}  // namespace resa::cuda
