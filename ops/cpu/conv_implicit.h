// Implicit-GEMM convolution: the forward of a stride-1 convolution as one GEMM whose column matrix is
// never written out. im2col + sgemm writes C * R * S rows of columns (9x the input for a 3x3 kernel) and
// the BLAS then reads them back to copy them once more into its own packed panels. Here a
// register-blocked micro-kernel (4 output channels x 24 positions, AVX2 + FMA) reads its 24 columns
// straight from the input planes (three loads per kernel tap and channel, padding lanes masked off)
// wherever they are 24 consecutive positions of one image, and from a small packed panel where they
// straddle two images or the edge of the tensor; the weights are packed once per call.
//
// Computes float32, stride 1, dilation 1, an output as wide as the input (Q == W: "same" padding along
// the width), K a multiple of 4 and output planes of at least 8 positions (supports()), on a CPU that
// runs AVX2 + FMA. conv2d_forward takes it (applies()) where it measured faster than im2col + OpenBLAS
// on the Zen 3 the project runs on (bench_conv --ab-implicit, BENCHMARKS.md): output planes of at most
// 64 positions (7x7, 4x4), where im2col + GEMM must gather several images into one GEMM and scatter
// the result back, and C * R * S >= 64 (a stem of 1 or 3 channels has too few rows to pay for each
// tile's stores), with the AVX2 hot-loop version active (ops/cpu/isa.h). On larger planes the two
// paths measured level (0.95-1.05), and with AVX-512 OpenBLAS's 512-bit kernels are twice as wide as
// this one, so those keep im2col + GEMM.
//
// The sums run in another order than im2col + GEMM's: results agree to float32 rounding, not in bits.
#pragma once
#include <cstddef>
#include <cstdint>

#include "resa/ops/geometry.h"

namespace resa::cpu::implicit {

using ops::ConvShape;

// Where conv2d_forward takes the path: Off: never; Auto: where profitable(); Force: wherever supported
// (a whole step with it everywhere). RESA_CONV_IMPLICIT=0|1|force, read once; default Auto.
// cpu::conv2d_forward_im2col / conv2d_forward_implicit (ops/cpu/conv.h) run either path on any layer.
enum class Mode { Off = 0, Auto = 1, Force = 2 };
Mode mode();
// Whether forward_images computes g (given AVX2 + FMA); whether it measured faster than im2col + GEMM
// (see above); whether conv2d_forward takes it, given the mode and the active ISA.
bool supports(const ConvShape& g);
bool profitable(const ConvShape& g);
bool applies(const ConvShape& g);
// Rows (of C * R * S) per block of the packed weights and of the column panels.
int64_t block_length(int64_t crs);
// Floats of the packed weights of g.
size_t packed_weight_size(const ConvShape& g);
// w (K, C, R, S) into the kernel's layout; packed holds packed_weight_size(g) floats.
void pack_weights(const ConvShape& g, const float* w, float* packed);
// y (N, K, P, Q) of images [n0, n1) from x (N, C, H, W) and the packed weights; serial (callers split
// the batch across threads). Only when supports(g) and the CPU runs AVX2 + FMA.
void forward_images(const ConvShape& g, const float* x, const float* packed, float* y, int64_t n0, int64_t n1);

// The padded variant, for wider planes: each image is first copied into zero-padded planes
// ((H + 2 pad_h) x (W + 2 pad_w)), split by stride into stride_h x stride_w phases, in which the input of
// any run of consecutive output positions under one kernel tap is a run of consecutive floats. The
// positions are computed over the (phase) padded width, the last positions of each row being computed
// and dropped (7% more multiply-adds for 28x28 with padding 1, 14% for 14x14), and no load needs a mask.
//   forward: the same 4 x 24 micro-kernel and packed weights, into a per-image buffer of padded rows,
//   then copied into y with the bias;
//   weight gradient: dw (K, C * R * S) = dy . columns^T as 4 x 3 tiles of dot products over the
//   positions (8 per vector, dy zero at the dropped ones), one image at a time; no column matrix.
// Float32, dilation 1, K a multiple of 4, any stride and padding (supports_padded()), AVX2 + FMA. The
// engine takes it where profitable_padded() (stride 1, planes of 28 or more columns: measured, see
// conv_implicit.cpp), given the mode (Off: never; Force: wherever supported) and AVX2 active.
bool supports_padded(const ConvShape& g);
bool profitable_padded(const ConvShape& g);
bool applies_padded(const ConvShape& g);
// y (N, K, P, Q) of images [n0, n1) from x and the packed weights (pack_weights), plus b (K) or null.
void forward_padded_images(const ConvShape& g, const float* x, const float* packed, const float* b, float* y,
                           int64_t n0, int64_t n1);
// dw (K, C, R, S) = (accumulate ? dw : 0) + the weight gradient of images [n0, n1) from x and dy.
void backward_weight_padded_images(const ConvShape& g, const float* x, const float* dy, float* dw, int64_t n0,
                                   int64_t n1, bool accumulate);

}  // namespace resa::cpu::implicit
