// CPU kernels for 2-D pooling over contiguous NCHW tensors, one (H, W) plane at a time; planes = N * C.
#pragma once
#include <cstdint>

#include "resa/core/dtype.h"
#include "resa/ops/geometry.h"

namespace resa::cpu {

using ops::PoolShape;

// x: (planes, H, W) -> y: (planes, P, Q), idx: (planes, P, Q) int64, the flat h * W + w of each window's
// first maximal element (a NaN counts as maximal); padding never wins.
template <typename T>
void max_pool2d_forward(const PoolShape& g, const T* x, T* y, int64_t* idx);

// dy, idx: (planes, P, Q) -> dx: (planes, H, W), each dy added at its argmax
template <typename T>
void max_pool2d_backward(const PoolShape& g, const T* dy, const int64_t* idx, T* dx);

// x: (planes, H, W) -> y: (planes, P, Q), the window sum over kernel * kernel (padding counts as zeros)
template <typename T>
void avg_pool2d_forward(const PoolShape& g, const T* x, T* y);

// dy: (planes, P, Q) -> dx: (planes, H, W)
template <typename T>
void avg_pool2d_backward(const PoolShape& g, const T* dy, T* dx);

// The same kernels by dtype (float32 / float64) over untyped pointers: the signatures of their CUDA twins
// in ops/cuda/kernels.h, so that ops/pool.cpp picks the backend with one RESA_BACKEND_CALL.
void max_pool2d_forward(DType dtype, const PoolShape& g, const void* x, void* y, int64_t* idx);
void max_pool2d_backward(DType dtype, const PoolShape& g, const void* dy, const int64_t* idx, void* dx);
void avg_pool2d_forward(DType dtype, const PoolShape& g, const void* x, void* y);
void avg_pool2d_backward(DType dtype, const PoolShape& g, const void* dy, void* dx);

}  // namespace resa::cpu
