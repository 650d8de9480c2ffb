// CUDA kernels of the engine, declared without CUDA types so that ops/<family>.cpp can call them.
// Each mirrors the CPU kernel of the same name in ops/cpu/<family>.h: same arguments, same layouts,
// pointers into device memory. Every kernel runs on the current device's stream (ops/cuda/runtime.h)
// and returns without waiting for it.
#pragma once
#include <cstdint>
#include <vector>

#include "resa/core/dtype.h"
#include "resa/ops/elementwise.h"
#include "resa/ops/geometry.h"
#include "resa/ops/reduce.h"

namespace resa::cuda {

using Dims = std::vector<int64_t>;

// ---- elementwise (ops/cpu/elementwise.h) ----
// out (contiguous, shape) = op(a, b), a and b read through their (broadcast) strides; all dtypes.
void binary(ops::BinaryOp op, DType dtype, const Dims& shape, void* out, const void* a, const Dims& a_strides,
            const void* b, const Dims& b_strides);
// out (contiguous, n) = op(x (contiguous, n)); float32 / float64.
void unary(ops::UnaryOp op, DType dtype, int64_t n, void* out, const void* x, double p0, double p1);
// out (contiguous) = cond != 0 ? a : b; all three through broadcast strides; cond has `dtype` too.
void where(DType dtype, const Dims& shape, void* out, const void* cond, const Dims& c_strides, const void* a,
           const Dims& a_strides, const void* b, const Dims& b_strides);
// dst (strided, dst_dtype) = src (strided, src_dtype), converting between any of the 4 dtypes.
void copy(const Dims& shape, void* dst, DType dst_dtype, const Dims& dst_strides, const void* src, DType src_dtype,
          const Dims& src_strides);

// ---- reductions (ops/cpu/reduce.h) ----
// x: (outer, r, inner) contiguous -> out: (outer, inner); ArgMax writes int64 (first maximal index,
// NaN wins as on the CPU). Sums accumulate in double.
void reduce(ops::ReduceOp op, DType dtype, int64_t outer, int64_t r, int64_t inner, const void* x, void* out);

// ---- GEMM on cuBLAS (ops/cpu/gemm.h) ----
// Row-major C = op(A) op(B): A is (m, k), or (k, m) read transposed when trans_a, leading dim lda; B is
// (k, n) or (n, k) with ldb; C is (m, n) with ldc. Bases are storage pointers, offsets in elements.
// float32 uses TF32 tensor cores only when set_allow_tf32(true) (ops/cuda/runtime.h).
void gemm(DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const void* a_base,
          int64_t a_offset_elems, int64_t lda, const void* b_base, int64_t b_offset_elems, int64_t ldb, void* out,
          int64_t out_offset_elems, int64_t ldc);

// ---- softmax family (ops/cpu/softmax.h); `g` of the cross-entropy backwards is a device scalar ----
// x: (outer, n, inner) -> y: (outer, n, inner); log selects log_softmax.
void softmax(DType dtype, bool log, int64_t outer, int64_t n, int64_t inner, const void* x, void* y);
// g, y: (outer, n, inner) -> dx: (outer, n, inner).
void softmax_backward(DType dtype, bool log, int64_t outer, int64_t n, int64_t inner, const void* g, const void* y,
                      void* dx);
// logits: (N, C), labels: (N) int64 in [0, C) (checked by the caller) -> loss: () (mean), lse: (N) float64
void cross_entropy(DType dtype, int64_t N, int64_t C, const void* logits, const int64_t* labels, void* loss, void* lse);
// g: (), logits: (N, C), labels: (N), lse: (N) -> dlogits: (N, C)
void cross_entropy_backward(DType dtype, int64_t N, int64_t C, const void* g, const void* logits, const int64_t* labels,
                            const void* lse, void* dlogits);
// logits, target: (N, C) -> loss: () (mean over rows), lse: (N) float64
void cross_entropy_soft(DType dtype, int64_t N, int64_t C, const void* logits, const void* target, void* loss,
                        void* lse);
// g: (), logits, target: (N, C), lse: (N) -> dlogits (if not null), dtarget (if not null): (N, C)
void cross_entropy_soft_backward(DType dtype, int64_t N, int64_t C, const void* g, const void* logits,
                                 const void* target, const void* lse, void* dlogits, void* dtarget);

// ---- indexing (ops/cpu/index.h); indices are device pointers, bounds-checked by the caller ----
// x: (outer, n, inner), index: (k) in [0, n) -> out: (outer, k, inner)
void index_select(DType dtype, int64_t outer, int64_t n, int64_t inner, int64_t k, const int64_t* index, const void* x,
                  void* out);
// dst: (outer, n, inner) += src: (outer, k, inner) at index (k); deterministic, in the CPU's order.
void index_add(DType dtype, int64_t outer, int64_t n, int64_t inner, int64_t k, const int64_t* index, const void* src,
               void* dst);
// index: index_shape contiguous, x read through x_strides -> out: index_shape contiguous.
void gather(DType dtype, int64_t dim, const std::vector<int64_t>& index_shape, const int64_t* index, const void* x,
            const std::vector<int64_t>& x_strides, void* out);
// dst (through dst_strides)[p with dim replaced by index[p]] += src[p]; deterministic, in the CPU's order.
void scatter_add(DType dtype, int64_t dim, const std::vector<int64_t>& index_shape, const int64_t* index,
                 const void* src, void* dst, const std::vector<int64_t>& dst_strides);

// ---- 2-D convolution (ops/cpu/conv.h): im2col + cuBLAS, float32 / float64 ----
// x: (N, C, H, W), w: (K, C, R, S), b: (K) or null -> y: (N, K, P, Q)
void conv2d_forward(DType dtype, const ops::ConvShape& g, const void* x, const void* w, const void* b, void* y);
// dy: (N, K, P, Q), w: (K, C, R, S) -> dx: (N, C, H, W)
void conv2d_backward_input(DType dtype, const ops::ConvShape& g, const void* dy, const void* w, void* dx);
// x: (N, C, H, W), dy: (N, K, P, Q) -> dw: (K, C, R, S) or null (x may then be null), db: (K) or null
void conv2d_backward_weight(DType dtype, const ops::ConvShape& g, const void* x, const void* dy, void* dw, void* db);

// ---- 2-D pooling (ops/cpu/pool.h) ----
// x: (planes, H, W) -> y, idx: (planes, P, Q); idx is the flat h * W + w of the first maximum (NaN wins).
void max_pool2d_forward(DType dtype, const ops::PoolShape& g, const void* x, void* y, int64_t* idx);
// dy, idx: (planes, P, Q) -> dx: (planes, H, W) (atomic adds: overlapping windows sum in any order)
void max_pool2d_backward(DType dtype, const ops::PoolShape& g, const void* dy, const int64_t* idx, void* dx);
// x: (planes, H, W) -> y: (planes, P, Q), window sums / kernel^2 (padding counts as zeros)
void avg_pool2d_forward(DType dtype, const ops::PoolShape& g, const void* x, void* y);
// dy: (planes, P, Q) -> dx: (planes, H, W)
void avg_pool2d_backward(DType dtype, const ops::PoolShape& g, const void* dy, void* dx);

// ---- batch normalisation (ops/cpu/batchnorm.h) over (N, C, L); per-channel sums in double ----
// x: (N, C, L), weight, bias: (C) or null -> y, and the batch mean, invstd: (C); running_mean/var (C) or
// null, updated in place (unbiased variance).
void batch_norm_train(DType dtype, int64_t n, int64_t c, int64_t l, const void* x, const void* weight, const void* bias,
                      double eps, double momentum, void* y, void* mean, void* invstd, void* running_mean,
                      void* running_var);
// x: (N, C, L), running_mean, running_var: (C) -> y: (N, C, L), mean, invstd: (C) used.
void batch_norm_eval(DType dtype, int64_t n, int64_t c, int64_t l, const void* x, const void* weight, const void* bias,
                     const void* running_mean, const void* running_var, double eps, void* y, void* mean, void* invstd);
// dy, x: (N, C, L), weight (C) or null, mean, invstd: (C) -> dx (N, C, L), dweight, dbias (C); any may be null.
void batch_norm_backward(DType dtype, int64_t n, int64_t c, int64_t l, const void* dy, const void* x,
                         const void* weight, const void* mean, const void* invstd, bool training, void* dx,
                         void* dweight, void* dbias);

}  // namespace resa::cuda
