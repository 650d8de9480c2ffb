// Elementwise ops: shape rules (numpy broadcasting) and device dispatch. No autograd here.
#pragma once
#include "resa/core/tensor.h"
#include "resa/ops/elementwise_ops.h"

namespace resa::ops {

// UnaryOp and BinaryOp are generated from the op tables in ops/elementwise_ops.h.

// The op's row name; throws for a value that is not in the table.
const char* op_name(BinaryOp op);
const char* op_name(UnaryOp op);

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor unary(UnaryOp op, const Tensor& x, double p0 = 0.0, double p1 = 0.0);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// dst <- src (src broadcast to dst's shape), any strides, dtypes and devices.
void copy(const Tensor& dst, const Tensor& src);
// A new contiguous tensor with src's values.
Tensor contiguous_copy(const Tensor& src);
// src itself when it is contiguous, else contiguous_copy(src).
inline Tensor contiguous_of(const Tensor& src) { return src.is_contiguous() ? src : contiguous_copy(src); }
// A contiguous copy of src on `device` (src itself when it is contiguous and already there).
Tensor to_device(const Tensor& src, Device device);

// Checks shared by ops: same device, same floating dtype. `op` names the caller.
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
void check_floating(const char* op, const Tensor& x);

}  // namespace resa::ops
