#include "resa/ops/cpu/elementwise.h"

#include <algorithm>
#include <cmath>

#include "resa/ops/cpu/loops.h"

namespace resa::cpu {
namespace {

template <typename T, typename F>
void binary_loop(const std::vector<int64_t>& shape, T* out, const T* a, const std::vector<int64_t>& sa, const T* b,
                 const std::vector<int64_t>& sb, F f) {
  std::array<std::vector<int64_t>, 3> st{contiguous_strides(shape), sa, sb};
  for_each_row<3>(shape, st, [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& s) {
    T* o = out + off[0];
    const T* pa = a + off[1];
    const T* pb = b + off[2];
    if (s[1] == 1 && s[2] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i], pb[i]);
    } else if (s[1] == 1 && s[2] == 0) {
      const T vb = *pb;
      for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i], vb);
    } else if (s[1] == 0 && s[2] == 1) {
      const T va = *pa;
      for (int64_t i = 0; i < n; ++i) o[i] = f(va, pb[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f(pa[i * s[1]], pb[i * s[2]]);
    }
  });
}

// The math the op table's formulas call on the CPU (ops/elementwise_ops.h).
struct CpuMath {
  template <typename T>
  static T exp(T v) {
    return std::exp(v);
  }
  template <typename T>
  static T log(T v) {
    return std::log(v);
  }
  template <typename T>
  static T sqrt(T v) {
    return std::sqrt(v);
  }
  template <typename T>
  static T abs(T v) {
    return std::abs(v);
  }
  template <typename T>
  static T tanh(T v) {
    return std::tanh(v);
  }
  template <typename T>
  static T pow(T v, T p) {
    return std::pow(v, p);
  }
  template <typename T>
  static T max(T a, T b) {
    return std::max(a, b);
  }
  template <typename T>
  static T min(T a, T b) {
    return std::min(a, b);
  }
};

template <typename T>
void binary_typed(ops::BinaryOp op, const std::vector<int64_t>& shape, T* out, const T* a,
                  const std::vector<int64_t>& sa, const T* b, const std::vector<int64_t>& sb) {
  using ops::BinaryOp;
  switch (op) {
#define RESA_CPU_BINARY_CASE_(Name, str, formula) \
  case BinaryOp::Name:                            \
    return binary_loop<T>(shape, out, a, sa, b, sb, ops::BinaryFn<T, CpuMath, BinaryOp::Name>{});
    RESA_BINARY_OPS(RESA_CPU_BINARY_CASE_)
#undef RESA_CPU_BINARY_CASE_
  }
  RESA_FAIL("[binary] unknown op {} (not a row of RESA_BINARY_OPS)", static_cast<int>(op));
}

template <typename T, typename F>
void unary_loop(int64_t n, T* out, const T* x, F f) {
  parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = f(x[i]);
  });
}

template <typename T>
void unary_typed(ops::UnaryOp op, int64_t n, T* out, const T* x, double p0d, double p1d) {
  using ops::UnaryOp;
  const T p0 = static_cast<T>(p0d), p1 = static_cast<T>(p1d);
  if (ops::unary_square_fast_path(op, p0d)) return unary_loop<T>(n, out, x, ops::SquareFn<T>{});
  switch (op) {
#define RESA_CPU_UNARY_CASE_(Name, str, formula) \
  case UnaryOp::Name:                            \
    return unary_loop<T>(n, out, x, ops::UnaryFn<T, CpuMath, UnaryOp::Name>{p0, p1});
    RESA_UNARY_OPS(RESA_CPU_UNARY_CASE_)
#undef RESA_CPU_UNARY_CASE_
  }
  RESA_FAIL("[unary] unknown op {} (not a row of RESA_UNARY_OPS)", static_cast<int>(op));
}

template <typename D, typename S>
void copy_typed(const std::vector<int64_t>& shape, D* dst, const std::vector<int64_t>& sd, const S* src,
                const std::vector<int64_t>& ss) {
  std::array<std::vector<int64_t>, 2> st{sd, ss};
  for_each_row<2>(shape, st, [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& s) {
    D* o = dst + off[0];
    const S* p = src + off[1];
    if (s[0] == 1 && s[1] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<D>(p[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * s[0]] = static_cast<D>(p[i * s[1]]);
    }
  });
}

}  // namespace

void binary(ops::BinaryOp op, DType dtype, const std::vector<int64_t>& shape, void* out, const void* a,
            const std::vector<int64_t>& sa, const void* b, const std::vector<int64_t>& sb) {
  RESA_DISPATCH_ALL(dtype, ops::op_name(op), [&] {
    binary_typed<scalar_t>(op, shape, static_cast<scalar_t*>(out), static_cast<const scalar_t*>(a), sa,
                           static_cast<const scalar_t*>(b), sb);
  });
}

void unary(ops::UnaryOp op, DType dtype, int64_t n, void* out, const void* x, double p0, double p1) {
  RESA_DISPATCH_FLOAT(dtype, ops::op_name(op), [&] {
    unary_typed<scalar_t>(op, n, static_cast<scalar_t*>(out), static_cast<const scalar_t*>(x), p0, p1);
  });
}

void where(DType dtype, const std::vector<int64_t>& shape, void* out, const void* cond, const std::vector<int64_t>& sc,
           const void* a, const std::vector<int64_t>& sa, const void* b, const std::vector<int64_t>& sb) {
  RESA_DISPATCH_ALL(dtype, "where", [&] {
    auto* o = static_cast<scalar_t*>(out);
    auto* c = static_cast<const scalar_t*>(cond);
    auto* pa = static_cast<const scalar_t*>(a);
    auto* pb = static_cast<const scalar_t*>(b);
    std::array<std::vector<int64_t>, 4> st{contiguous_strides(shape), sc, sa, sb};
    for_each_row<4>(shape, st, [&](const std::array<int64_t, 4>& off, int64_t n, const std::array<int64_t, 4>& s) {
      for (int64_t i = 0; i < n; ++i)
        o[off[0] + i * s[0]] = c[off[1] + i * s[1]] != scalar_t(0) ? pa[off[2] + i * s[2]] : pb[off[3] + i * s[3]];
    });
  });
}

void copy(const std::vector<int64_t>& shape, void* dst, DType dst_dtype, const std::vector<int64_t>& sd,
          const void* src, DType src_dtype, const std::vector<int64_t>& ss) {
  RESA_DISPATCH_ALL(dst_dtype, "copy", [&] {
    using D = scalar_t;
    RESA_DISPATCH_ALL(src_dtype, "copy", [&] {
      copy_typed<D, scalar_t>(shape, static_cast<D*>(dst), sd, static_cast<const scalar_t*>(src), ss);
    });
  });
}

}  // namespace resa::cpu
