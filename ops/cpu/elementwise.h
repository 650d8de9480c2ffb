// CPU kernels for elementwise ops over strided operands (see loops.h for the geometry).
#pragma once
#include <cstdint>
#include <vector>

#include "resa/core/dtype.h"
#include "resa/ops/elementwise.h"

namespace resa::cpu {

// out (contiguous, shape) = op(a, b) with a, b read through their (broadcast) strides.
void binary(ops::BinaryOp op, DType dtype, const std::vector<int64_t>& shape, void* out, const void* a,
            const std::vector<int64_t>& a_strides, const void* b, const std::vector<int64_t>& b_strides);
// out (contiguous, n) = op(x (contiguous, n)).
void unary(ops::UnaryOp op, DType dtype, int64_t n, void* out, const void* x, double p0, double p1);
// out (contiguous) = cond != 0 ? a : b; all three read through broadcast strides; cond has `dtype` too.
void where(DType dtype, const std::vector<int64_t>& shape, void* out, const void* cond,
           const std::vector<int64_t>& c_strides, const void* a, const std::vector<int64_t>& a_strides, const void* b,
           const std::vector<int64_t>& b_strides);
// dst (strided, dst_dtype) = src (strided, src_dtype), converting types.
void copy(const std::vector<int64_t>& shape, void* dst, DType dst_dtype, const std::vector<int64_t>& dst_strides,
          const void* src, DType src_dtype, const std::vector<int64_t>& src_strides);

}  // namespace resa::cpu
