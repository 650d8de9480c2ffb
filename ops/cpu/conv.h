// CPU kernels for 2-D convolution on contiguous NCHW tensors: im2col + GEMM (OpenBLAS), Winograd
// F(4x4, 3x3) and F(2x2, 3x3) for wide 3x3 stride-1 layers (ops/cpu/conv_winograd.h), and on AVX2 the
// implicit-GEMM kernels of ops/cpu/conv_implicit.h; docs/DESIGN.md lists which layer takes which. The input
// gradient of a stride-1 convolution runs as a forward convolution of dy with the turned kernel; other
// strides use col2im. Images are split across threads (each GEMM then runs on one thread); with fewer
// images than threads the images run in turn and the GEMM threads itself.
#pragma once
#include <cstdint>

#include "resa/core/dtype.h"
#include "resa/ops/geometry.h"

namespace resa::cpu {

using ops::ConvShape;

// x: (N, C, H, W), w: (K, C, R, S), b: (K) or null -> y: (N, K, P, Q)
template <typename T>
void conv2d_forward(const ConvShape& g, const T* x, const T* w, const T* b, T* y);

// dy: (N, K, P, Q), w: (K, C, R, S) -> dx: (N, C, H, W)
template <typename T>
void conv2d_backward_input(const ConvShape& g, const T* dy, const T* w, T* dx);

// x: (N, C, H, W), dy: (N, K, P, Q) -> dw: (K, C, R, S) or null, db: (K) or null (sum of dy over N, P, Q)
template <typename T>
void conv2d_backward_weight(const ConvShape& g, const T* x, const T* dy, T* dw, T* db);

// Winograd F(2x2, 3x3) for any 3x3, stride-1, undilated convolution (the fast forward uses it only where
// it pays: winograd::profitable); throws for other shapes. For tests and benchmarks.
template <typename T>
void conv2d_forward_winograd(const ConvShape& g, const T* x, const T* w, const T* b, T* y);
// Winograd F(4x4, 3x3) likewise (winograd::profitable4 says where the fast forward takes it).
template <typename T>
void conv2d_forward_winograd4(const ConvShape& g, const T* x, const T* w, const T* b, T* y);
// Its weight gradient (winograd::profitable4_weight: where conv2d_backward_weight takes it); db as usual.
template <typename T>
void conv2d_backward_weight_winograd4(const ConvShape& g, const T* x, const T* dy, T* dw, T* db);

// im2col + GEMM, never Winograd nor the implicit GEMM (what conv2d_forward chooses between); and the
// implicit GEMM wherever it computes the shape (ops/cpu/conv_implicit.h: supports(), AVX2 + FMA), which
// conv2d_forward takes only where it pays; throws otherwise. For tests and benchmarks (bench_conv --ab-*).
template <typename T>
void conv2d_forward_im2col(const ConvShape& g, const T* x, const T* w, const T* b, T* y);
void conv2d_forward_implicit(const ConvShape& g, const float* x, const float* w, const float* b, float* y);
// The padded implicit kernels (implicit::supports_padded(), AVX2 + FMA; throw otherwise), and the weight
// gradient as im2col + GEMM: what conv2d_forward / conv2d_backward_weight choose between.
void conv2d_forward_padded(const ConvShape& g, const float* x, const float* w, const float* b, float* y);
void conv2d_backward_weight_padded(const ConvShape& g, const float* x, const float* dy, float* dw, float* db);
void conv2d_backward_weight_im2col(const ConvShape& g, const float* x, const float* dy, float* dw, float* db);

// The simple kernels: row-by-row im2col for every shape and col2im for every input gradient. The fast
// paths above are tested against them (tests/test_fast_kernels.cpp).
template <typename T>
void conv2d_forward_reference(const ConvShape& g, const T* x, const T* w, const T* b, T* y);
template <typename T>
void conv2d_backward_input_reference(const ConvShape& g, const T* dy, const T* w, T* dx);
template <typename T>
void conv2d_backward_weight_reference(const ConvShape& g, const T* x, const T* dy, T* dw, T* db);

// conv2d_forward / _backward_input / _backward_weight by dtype (float32 / float64) over untyped pointers:
// the signatures of their CUDA twins in ops/cuda/kernels.h, for RESA_BACKEND_CALL in ops/conv.cpp.
void conv2d_forward(DType dtype, const ConvShape& g, const void* x, const void* w, const void* b, void* y);
void conv2d_backward_input(DType dtype, const ConvShape& g, const void* dy, const void* w, void* dx);
void conv2d_backward_weight(DType dtype, const ConvShape& g, const void* x, const void* dy, void* dw, void* db);

}  // namespace resa::cpu
