#pragma once
#include <cstdint>

#include "resa/core/dtype.h"
#include "resa/ops/reduce.h"

namespace resa::cpu {

// x: (outer, r, inner) contiguous -> out: (outer, inner); ArgMax writes int64 into `out`.
// Sums accumulate in double.
void reduce(ops::ReduceOp op, DType dtype, int64_t outer, int64_t r, int64_t inner, const void* x, void* out);

}  // namespace resa::cpu
