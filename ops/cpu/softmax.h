// CPU kernels of the softmax family. A softmax along `dim` of a contiguous tensor sees it as
// (outer, n, inner): outer = product of the dims before `dim`, n = size of `dim`, inner = product after.
#pragma once
#include <cstdint>

#include "resa/core/dtype.h"

namespace resa::cpu {

// x: (outer, n, inner) -> y: (outer, n, inner); log selects log_softmax.
void softmax(DType dtype, bool log, int64_t outer, int64_t n, int64_t inner, const void* x, void* y);
// g, y: (outer, n, inner) -> dx: (outer, n, inner).
// softmax:     dx = y * (g - sum_n g * y)
// log_softmax: dx = g - exp(y) * sum_n g
void softmax_backward(DType dtype, bool log, int64_t outer, int64_t n, int64_t inner, const void* g, const void* y,
                      void* dx);

// logits: (N, C), labels: (N) int64 in [0, C) -> loss: () (mean), lse: (N)
void cross_entropy(DType dtype, int64_t N, int64_t C, const void* logits, const int64_t* labels, void* loss, void* lse);
// g: (), logits: (N, C), labels: (N), lse: (N) -> dlogits: (N, C)
void cross_entropy_backward(DType dtype, int64_t N, int64_t C, const void* g, const void* logits, const int64_t* labels,
                            const void* lse, void* dlogits);

// logits, target: (N, C) -> loss: () (mean over rows), lse: (N)
void cross_entropy_soft(DType dtype, int64_t N, int64_t C, const void* logits, const void* target, void* loss,
                        void* lse);
// g: (), logits, target: (N, C), lse: (N) -> dlogits: (N, C) (if not null), dtarget: (N, C) (if not null)
void cross_entropy_soft_backward(DType dtype, int64_t N, int64_t C, const void* g, const void* logits,
                                 const void* target, const void* lse, void* dlogits, void* dtarget);

}  // namespace resa::cpu
