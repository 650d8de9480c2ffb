// Winograd F(2x2, 3x3) for the CPU: a 3x3, stride-1 convolution computed tile by tile, each 2x2 block of
// the output from a 4x4 block of the input, with 16 multiplications per (input channel, output channel)
// instead of 36. Written as three passes and 16 GEMMs (Lavin and Gray's formulation):
//   U[e] (K, C) = G g G^T           the 3x3 weights turned into 4x4, once per call
//   V[e] (C, T) = B^T d B           every 4x4 input tile (stride 2), T = tiles of a group of images
//   M[e] (K, T) = U[e] . V[e]       e = 0..15, one GEMM per element of the 4x4 tile
//   y tile (2, 2) = A^T M A         back to the output, plus the bias
// with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
// A^T = [1 1 1 0; 0 1 -1 -1]. Tiles past the output's edge read zeros and their extra outputs are dropped.
#pragma once
#include <cstdint>

#include "resa/ops/cpu/conv.h"

namespace resa::cpu::winograd {

// True when g is a 3x3, stride-1, undilated convolution (what the algorithm computes).
bool applies(const ConvShape& g);
// True where it measured faster than im2col + GEMM on a 2-core AVX2 machine (apps/bench_conv, see
// BENCHMARKS.md): 128 or more channels on both sides and even output planes (no half-empty tiles); on
// planes of 4x4 or less, 512 or more (measured on a Sapphire Rapids Xeon); with the AVX2 loops active,
// also 64 channels on planes of 32x32 or more (measured on a Zen 3). With fewer channels, or 64 on
// smaller planes, the transforms cost as much as the GEMM work they save.
bool profitable(const ConvShape& g);

// w: (K, C, 3, 3) -> u: 16 x (K, C), u has 16 * K * C elements.
template <typename T>
void transform_weight(const ConvShape& g, const T* w, T* u);

// y[n0, n1) of the output from x[n0, n1) of the input, with the transformed weights u; b may be null.
// Single-threaded (GEMMs included): the caller splits the batch across threads.
template <typename T>
void forward_images(const ConvShape& g, const T* x, const T* u, const T* b, T* y, int64_t n0, int64_t n1);

// Winograd F(4x4, 3x3): each 4x4 block of the output from a 6x6 block of the input (stride 4), 36
// multiplications per (input channel, output channel) instead of 144, in the same three passes with 36
// GEMMs (U[e] (K, C) . V[e] (C, T), e = 0..35) and
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
//   G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
// The transforms run along the tiles of a group of images (tile t of image i is column i * tiles + t),
// so that planes with one tile (4x4) vectorise as well as large ones. Its rounding error is larger than
// F(2x2, 3x3)'s (the transforms' entries reach 8 and 1/24): tests bound it by the same computation on
// absolute values.
bool profitable4(const ConvShape& g);
// w: (K, C, 3, 3) -> u: 36 x (K, C).
template <typename T>
void transform_weight4(const ConvShape& g, const T* w, T* u);
// y[n0, n1) from x[n0, n1) with the transformed weights u; b may be null. Single-threaded.
template <typename T>
void forward_images4(const ConvShape& g, const T* x, const T* u, const T* b, T* y, int64_t n0, int64_t n1);

// The weight gradient through the same transforms: dU[e] (K, C) = sum over tiles of (A dy A^T)[e] (K, T)
// . V[e]^T (T, C), then dw = G^T dU G; 36 GEMMs instead of one 9x larger. Threads itself (transforms
// across channels, the GEMMs inside OpenBLAS). Where it measured faster than im2col + GEMM (or the
// padded kernel) for the weight gradient: profitable4_weight.
bool profitable4_weight(const ConvShape& g);
template <typename T>
void backward_weight4(const ConvShape& g, const T* x, const T* dy, T* dw);

}  // namespace resa::cpu::winograd
