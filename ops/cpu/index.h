// CPU kernels of the indexing ops. Indices have been bounds-checked by the caller (ops/index.cpp).
#pragma once
#include <cstdint>
#include <vector>

#include "resa/core/dtype.h"

namespace resa::cpu {

// x: (outer, n, inner) contiguous, index: (k) in [0, n) -> out: (outer, k, inner) contiguous.
void index_select(DType dtype, int64_t outer, int64_t n, int64_t inner, int64_t k, const int64_t* index, const void* x,
                  void* out);
// dst: (outer, n, inner) contiguous, src: (outer, k, inner) contiguous, index: (k) in [0, n):
// dst[o, index[j], i] += src[o, j, i]. Threads split (o, i), never j, so repeated indices do not race.
void index_add(DType dtype, int64_t outer, int64_t n, int64_t inner, int64_t k, const int64_t* index, const void* src,
               void* dst);

// index: index_shape contiguous, x: any shape of the same rank read through x_strides
// -> out: index_shape contiguous; out[p] = x[p with coordinate dim replaced by index[p]].
void gather(DType dtype, int64_t dim, const std::vector<int64_t>& index_shape, const int64_t* index, const void* x,
            const std::vector<int64_t>& x_strides, void* out);
// index, src: index_shape contiguous -> dst (written through dst_strides, non-overlapping):
// dst[p with coordinate dim replaced by index[p]] += src[p]. Threads split the coordinates other
// than dim, which are the same in dst, so repeated indices do not race.
void scatter_add(DType dtype, int64_t dim, const std::vector<int64_t>& index_shape, const int64_t* index,
                 const void* src, void* dst, const std::vector<int64_t>& dst_strides);

}  // namespace resa::cpu
