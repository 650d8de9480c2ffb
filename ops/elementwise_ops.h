// The elementwise op tables: one row per op, the only place an op's enum value, name and formula are
// written. Everything else is generated from the rows:
//   - the enums ops::UnaryOp / ops::BinaryOp and op_name() (ops/elementwise.h, ops/elementwise.cpp);
//   - the CPU kernels' switch (ops/cpu/elementwise.cpp) and the CUDA kernels' switch
//     (ops/cuda/elementwise.cu), both through the functors below, so an op cannot be forgotten in one
//     backend, and an unknown value is an error there, never another op;
//   - the list that tests/test_op_registry.cpp walks to fail on any op without a registry row.
// Adding an op: a row here, its differentiable function with its gradient (autograd/elementwise.*),
// a row in tests/op_registry.h (docs/DESIGN.md, "The op tables").
//
// A row is X(Name, "name", formula). The formula is one expression in the element type T:
//   unary:  of v (the element) and the scalars p0, p1 (ops::unary's parameters);
//   binary: of x, y (the elements of a and b).
// Transcendental functions are called through M (M::exp, M::log, M::sqrt, M::abs, M::tanh, M::pow,
// M::max, M::min): each backend supplies its math library (std:: on the CPU, CUDA's on the device), so
// one formula gives each backend exactly the arithmetic it had when it was written by hand.
#pragma once
#include <cstddef>

// Unary ops: float32 / float64 only.
#define RESA_UNARY_OPS(X)                                                          \
  X(Neg, "neg", -v)                                                                \
  X(Exp, "exp", M::exp(v))                                                         \
  X(Log, "log", M::log(v))                                                         \
  X(Sqrt, "sqrt", M::sqrt(v))                                                      \
  X(Abs, "abs", M::abs(v))                                                         \
  X(Relu, "relu", v > T(0) ? v : T(0))                                             \
  X(Sigmoid, "sigmoid", T(1) / (T(1) + M::exp(-v)))                                \
  X(Tanh, "tanh", M::tanh(v))                                                      \
  /* x^p0; both backends compute p0 == 2 as v * v (ops::unary_square_fast_path) */ \
  X(Pow, "pow", M::pow(v, p0))                                                     \
  /* min(max(x, p0), p1): NaN stays NaN */                                         \
  X(Clamp, "clamp", M::min(M::max(v, p0), p1))                                     \
  X(AddScalar, "add_scalar", v + p0)                                               \
  X(MulScalar, "mul_scalar", v* p0)                                                \
  X(RSub, "rsub", p0 - v)                                                          \
  X(RDiv, "rdiv", p0 / v)                                                          \
  /* x > p0 ? 1 : 0 (masks for gradients) */                                       \
  X(Step, "step", v > p0 ? T(1) : T(0))

// Binary ops with broadcasting: all dtypes (uint8 arithmetic wraps as in C, T(...) narrows back).
#define RESA_BINARY_OPS(X)                                                                     \
  X(Add, "add", T(x + y))                                                                      \
  X(Sub, "sub", T(x - y))                                                                      \
  X(Mul, "mul", T(x* y))                                                                       \
  X(Div, "div", T(x / y))                                                                      \
  X(Maximum, "maximum", x >= y ? x : y)                                                        \
  X(Eq, "eq", T(x == y))                                                                       \
  X(Ne, "ne", T(x != y))                                                                       \
  X(Lt, "lt", T(x < y))                                                                        \
  X(Le, "le", T(x <= y))                                                                       \
  X(Gt, "gt", T(x > y))                                                                        \
  X(Ge, "ge", T(x >= y))                                                                       \
  /* b > 0 ? a : 0 (a gradient through a ReLU, from the ReLU's output b: one pass, no mask) */ \
  X(MaskPositive, "mask_positive", y > T(0) ? x : T(0))                                        \
  /* relu(x + y) in one pass (a residual block's join): the bits of add, then relu */          \
  X(AddRelu, "add_relu", T(x + y) > T(0) ? T(x + y) : T(0))

// Qualifier of the functors' call operators: device code too where nvcc compiles them.
#if defined(__CUDACC__)
#define RESA_ELEMENTWISE_FN __host__ __device__ __forceinline__
#else
#define RESA_ELEMENTWISE_FN inline
#endif

namespace resa::ops {

#define RESA_OP_ENUM_ROW_(Name, str, formula) Name,
enum class UnaryOp { RESA_UNARY_OPS(RESA_OP_ENUM_ROW_) };
enum class BinaryOp { RESA_BINARY_OPS(RESA_OP_ENUM_ROW_) };
#undef RESA_OP_ENUM_ROW_

// Every op of a table, in enum order (what tests walk), and the names.
#define RESA_OP_VALUE_ROW_(Name, str, formula) UnaryOp::Name,
inline constexpr UnaryOp kUnaryOps[] = {RESA_UNARY_OPS(RESA_OP_VALUE_ROW_)};
#undef RESA_OP_VALUE_ROW_
#define RESA_OP_VALUE_ROW_(Name, str, formula) BinaryOp::Name,
inline constexpr BinaryOp kBinaryOps[] = {RESA_BINARY_OPS(RESA_OP_VALUE_ROW_)};
#undef RESA_OP_VALUE_ROW_
#define RESA_OP_NAME_ROW_(Name, str, formula) str,
inline constexpr const char* kUnaryOpNames[] = {RESA_UNARY_OPS(RESA_OP_NAME_ROW_)};
inline constexpr const char* kBinaryOpNames[] = {RESA_BINARY_OPS(RESA_OP_NAME_ROW_)};
#undef RESA_OP_NAME_ROW_
#define RESA_OP_COUNT_ROW_(Name, str, formula) +1
inline constexpr int kUnaryOpCount = 0 RESA_UNARY_OPS(RESA_OP_COUNT_ROW_);
inline constexpr int kBinaryOpCount = 0 RESA_BINARY_OPS(RESA_OP_COUNT_ROW_);
#undef RESA_OP_COUNT_ROW_

namespace detail {
template <typename E, size_t N>
constexpr bool values_are_dense(const E (&ops)[N]) {
  for (size_t i = 0; i < N; ++i)
    if (static_cast<size_t>(ops[i]) != i) return false;
  return true;
}
}  // namespace detail

// The enum, the value list and the names all come from the rows; these pin that down, so a table edited
// by hand out of step (or an enumerator given an explicit value) fails to compile.
static_assert(sizeof(kUnaryOps) / sizeof(kUnaryOps[0]) == kUnaryOpCount &&
                  sizeof(kUnaryOpNames) / sizeof(kUnaryOpNames[0]) == kUnaryOpCount,
              "RESA_UNARY_OPS: the enum, value list and names must have one entry per row");
static_assert(sizeof(kBinaryOps) / sizeof(kBinaryOps[0]) == kBinaryOpCount &&
                  sizeof(kBinaryOpNames) / sizeof(kBinaryOpNames[0]) == kBinaryOpCount,
              "RESA_BINARY_OPS: the enum, value list and names must have one entry per row");
static_assert(detail::values_are_dense(kUnaryOps) && detail::values_are_dense(kBinaryOps),
              "the op enums must be 0..count-1 in row order (op_name indexes the names by value)");

// Whether `op` is one of the table's values (a value cast from an integer may not be).
constexpr bool is_valid(UnaryOp op) { return static_cast<unsigned>(op) < static_cast<unsigned>(kUnaryOpCount); }
constexpr bool is_valid(BinaryOp op) { return static_cast<unsigned>(op) < static_cast<unsigned>(kBinaryOpCount); }

// The functors of the rows, for the backends: UnaryFn<T, M, op>{p0, p1}(v) and BinaryFn<T, M, op>{}(x, y)
// with M the backend's math (see the top of this file).
template <typename T, typename M, UnaryOp OP>
struct UnaryFn;
template <typename T, typename M, BinaryOp OP>
struct BinaryFn;

#define RESA_OP_UNARY_FN_ROW_(Name, str, formula)                   \
  template <typename T, typename M>                                 \
  struct UnaryFn<T, M, UnaryOp::Name> {                             \
    T p0, p1;                                                       \
    RESA_ELEMENTWISE_FN T operator()(T v) const { return formula; } \
  };
RESA_UNARY_OPS(RESA_OP_UNARY_FN_ROW_)
#undef RESA_OP_UNARY_FN_ROW_

#define RESA_OP_BINARY_FN_ROW_(Name, str, formula)                       \
  template <typename T, typename M>                                      \
  struct BinaryFn<T, M, BinaryOp::Name> {                                \
    RESA_ELEMENTWISE_FN T operator()(T x, T y) const { return formula; } \
  };
RESA_BINARY_OPS(RESA_OP_BINARY_FN_ROW_)
#undef RESA_OP_BINARY_FN_ROW_

// The fast path both backends take for pow with exponent 2 (exactly v * v, not the library's pow).
template <typename T>
struct SquareFn {
  RESA_ELEMENTWISE_FN T operator()(T v) const { return v * v; }
};
constexpr bool unary_square_fast_path(UnaryOp op, double p0) { return op == UnaryOp::Pow && p0 == 2.0; }

}  // namespace resa::ops
