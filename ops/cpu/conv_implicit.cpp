// The parts of the implicit-GEMM convolution (ops/cpu/conv_implicit.h) that run on any CPU: whether it
// applies, and the packing of the weights. The multiplication itself is in conv_implicit_avx2.cpp.
#include "resa/ops/cpu/conv_implicit.h"

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "resa/core/error.h"
#include "resa/ops/cpu/isa.h"

namespace resa::cpu::implicit {

// The C * R * S rows split into equal blocks of at most 256, so that one 24-column panel of a block
// (24 KB) stays in L1 while the micro-kernel sweeps the output channels over it.
int64_t block_length(int64_t crs) {
  const int64_t blocks = (crs + 255) / 256;
  return (crs + blocks - 1) / blocks;
}

Mode mode() {
  static const Mode m = [] {
    const char* env = std::getenv("RESA_CONV_IMPLICIT");
    if (!env || !*env || std::strcmp(env, "1") == 0) return Mode::Auto;
    if (std::strcmp(env, "0") == 0) return Mode::Off;
    if (std::strcmp(env, "force") == 0) return Mode::Force;
    throw Error(fmt::format("RESA_CONV_IMPLICIT={}: expected 0, 1 or force", env));
  }();
  return m;
}

bool supports(const ConvShape& g) {
  return g.stride_h == 1 && g.stride_w == 1 && g.dil_h == 1 && g.dil_w == 1 && g.q == g.w && g.k % 4 == 0 &&
         g.p * g.q >= 8 && g.c * g.r * g.s > 0 && g.n > 0;
}

bool profitable(const ConvShape& g) { return g.c * g.r * g.s >= 64 && g.p * g.q <= 64; }

// AVX2 only: with AVX-512 (OpenBLAS's SkylakeX kernels, twice as wide) the implicit forward measured
// 1.15-1.55x the time of im2col + GEMM on every stride-1 layer of both networks on the Xeon (2026-12-06).
bool applies(const ConvShape& g) {
  const Mode m = mode();
  return m != Mode::Off && active_isa() == Isa::Avx2 && supports(g) && (m == Mode::Force || profitable(g));
}

bool supports_padded(const ConvShape& g) {
  return g.stride_h >= 1 && g.stride_w >= 1 && g.dil_h == 1 && g.dil_w == 1 && g.k % 4 == 0 && g.p > 0 && g.q > 0 &&
         g.c * g.r * g.s > 0 && g.n > 0;
}

// Measured on the Zen 3 (bench_conv --ab-padded, BENCHMARKS.md): planes of 28x28 and 32x32 paid, forward
// 0.78-0.83 and weight gradient 0.64-0.88 of im2col + GEMM's time (stems included); 14x14 and 16x16 did
// not (the dropped positions and each image's partial last panel cost what the column matrix saves), nor
// smaller planes. Padded images above 80K floats (64 channels of 34x34) were not measured: the weight
// kernel re-reads the image once per 4 output channels, which must come from L2.
bool profitable_padded(const ConvShape& g) {
  return g.stride_h == 1 && g.stride_w == 1 && g.q >= 28 &&
         g.c * (g.h + 2 * g.pad_h) * (g.w + 2 * g.pad_w) <= 80 * 1024;
}

// AVX2 only: on the Xeon with AVX-512 (2026-12-06) the padded kernels measured 0.97-5.2x the time of
// im2col + GEMM (forward and weight gradient, both networks); the only gain, the ResNet-18 stem's weight
// gradient (0.82, 0.4 ms at batch 64), was left out.
bool applies_padded(const ConvShape& g) {
  const Mode m = mode();
  return m != Mode::Off && active_isa() == Isa::Avx2 && supports_padded(g) &&
         (m == Mode::Force || profitable_padded(g));
}

size_t packed_weight_size(const ConvShape& g) { return static_cast<size_t>(g.k * g.c * g.r * g.s); }

// Block b of rows [k0, k0 + kc) starts at k0 * K; in it, output channels m .. m + 3 are one sliver of
// kc x 4 values (row k of the sliver: the 4 channels' weights for that row).
void pack_weights(const ConvShape& g, const float* w, float* packed) {
  const int64_t crs = g.c * g.r * g.s, kcn = block_length(crs);
  for (int64_t k0 = 0; k0 < crs; k0 += kcn) {
    const int64_t kc = crs - k0 < kcn ? crs - k0 : kcn;
    float* block = packed + k0 * g.k;
    for (int64_t m = 0; m < g.k; m += 4)
      for (int64_t kk = 0; kk < kc; ++kk)
        for (int64_t i = 0; i < 4; ++i) block[m * kc + kk * 4 + i] = w[(m + i) * crs + k0 + kk];
  }
}

}  // namespace resa::cpu::implicit
