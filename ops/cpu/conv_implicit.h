// Implicit-GEMM convolution: the forward of a stride-1 convolution as one GEMM whose column matrix is
// never written out. im2col + sgemm writes C * R * S rows of columns (9x the input for a 3x3 kernel) and
// the BLAS then reads them back to copy them once more into its own packed panels; here the panels are
// filled straight from the input planes, a few thousand columns at a time while they sit in the cache,
// and a register-blocked micro-kernel (4 output channels x 24 positions, AVX2 + FMA) multiplies them
// with the packed weights.
//
// Applies to float32, stride 1, dilation 1, an output as wide as the input (Q == W: "same" padding along
// the width), K a multiple of 4 and output planes of at least 8 positions, on a CPU whose active hot-loop
// version is AVX2 (ops/cpu/isa.h). With AVX-512 OpenBLAS's 512-bit kernels are twice as wide as this
// one, so that version keeps im2col + GEMM. RESA_CONV_IMPLICIT=0 turns the path off (for A/B runs).
//
// The sums run in another order than im2col + GEMM's: results agree to float32 rounding, not in bits.
#pragma once
#include <cstddef>
#include <cstdint>

#include "resa/ops/geometry.h"

namespace resa::cpu::implicit {

using ops::ConvShape;

// Whether the forward of g takes this path on this CPU (see above).
bool applies(const ConvShape& g);
// Rows (of C * R * S) per block of the packed weights and of the column panels.
int64_t block_length(int64_t crs);
// Floats of the packed weights of g.
size_t packed_weight_size(const ConvShape& g);
// w (K, C, R, S) into the kernel's layout; packed holds packed_weight_size(g) floats.
void pack_weights(const ConvShape& g, const float* w, float* packed);
// y (N, K, P, Q) of images [n0, n1) from x (N, C, H, W) and the packed weights; serial (callers split
// the batch across threads). Only when applies(g).
void forward_images(const ConvShape& g, const float* x, const float* packed, float* y, int64_t n0, int64_t n1);

}  // namespace resa::cpu::implicit
