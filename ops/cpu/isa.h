// The CPU's hot loops in one version per vector instruction set, picked at run time.
//
// The default build is portable (baseline x86-64: SSE2), but batch norm, im2col/col2im, the Winograd
// transforms and the SGD/EMA updates are memory-bound loops that run faster with wider vectors. Their
// bodies live once, in ops/cpu/isa_kernels.h, which three files compile: isa_kernels.cpp (baseline),
// isa_kernels_avx2.cpp (-mavx2) and isa_kernels_avx512.cpp (-mavx512f/bw/dq/vl). Each fills a table of
// function pointers; the callers (batchnorm.cpp, conv.cpp, conv_winograd.cpp, optim.cpp) keep the
// threading and call the table of the active ISA.
//
// The three versions give bit-identical results: they run the same operations in the same order (sums
// keep a fixed number of lanes whatever the vector width) and are compiled without FMA contraction, so a
// checkpoint does not depend on which CPU wrote it (the GEMM aside). tests/test_isa_kernels.cpp checks
// that on every version the machine runs.
#pragma once
#include <cstdint>

#include "resa/ops/cpu/conv.h"
#include "resa/ops/optim.h"

namespace resa::cpu {

enum class Isa { Baseline = 0, Avx2 = 1, Avx512 = 2 };
constexpr int kIsaCount = 3;

// "baseline" (x86-64, SSE2), "avx2" or "avx512".
const char* isa_name(Isa isa);
// Whether this CPU can run that version (AVX2: avx2 + fma; AVX-512: f + bw + dq + vl).
bool isa_runs(Isa isa);
// The version in use: the widest one the CPU runs, or the one RESA_CPU_ISA names (baseline, avx2,
// avx512), which must run here (an error says so otherwise).
Isa active_isa();
// Switches the version in use (tests and benchmarks compare them); throws if the CPU cannot run it.
void set_active_isa(Isa isa);

// One version of the loops, for element type T. Every function is serial: the caller splits the work.
template <typename T>
struct IsaKernels {
  // Batch norm over channels [c0, c1) of contiguous (N, C, L) tensors (ops/cpu/batchnorm.h has the
  // meaning of each argument). relu: the output is max(y, 0) (batch norm + ReLU fused); relu_out (or
  // null): that fused output, whose zeros mask dy in the backward.
  void (*bn_train)(int64_t n, int64_t c, int64_t l, int64_t c0, int64_t c1, const T* x, const T* weight, const T* bias,
                   double eps, double momentum, bool relu, T* y, T* mean, T* invstd, T* running_mean, T* running_var);
  void (*bn_eval)(int64_t n, int64_t c, int64_t l, int64_t c0, int64_t c1, const T* x, const T* weight, const T* bias,
                  const T* running_mean, const T* running_var, double eps, bool relu, T* y, T* mean, T* invstd);
  void (*bn_backward)(int64_t n, int64_t c, int64_t l, int64_t c0, int64_t c1, const T* dy, const T* x, const T* weight,
                      const T* mean, const T* invstd, bool training, const T* relu_out, T* dx, T* dweight, T* dbias);
  // One image: x (C, H, W) -> col (C * R * S, P * Q), row stride ld; padding reads as zero. `same_width`
  // is the faster form for stride 1 with Q == W (one flat copy per row of col).
  void (*im2col)(const ConvShape& g, const T* x, T* col, int64_t ld);
  void (*im2col_same_width)(const ConvShape& g, const T* x, T* col, int64_t ld);
  // The same as im2col for any shape, as one gather per row of col through a table of plane offsets
  // (faster for strided convolutions).
  void (*im2col_gather)(const ConvShape& g, const T* x, T* col, int64_t ld);
  // The adjoint: col -> dx (C, H, W), added to dx.
  void (*col2im)(const ConvShape& g, const T* col, T* dx, int64_t ld);
  // The same through a table of plane offsets, one scatter-add loop per row of col (strided layers).
  void (*col2im_scatter)(const ConvShape& g, const T* col, T* dx, int64_t ld);
  // Winograd F(2x2, 3x3) (ops/cpu/conv_winograd.h): weights [i0, i1) of the K * C filters into u; the
  // input transform of one plane into v (16 matrices ld apart); the output transform of one plane.
  void (*winograd_weight)(const ConvShape& g, const T* w, T* u, int64_t i0, int64_t i1);
  void (*winograd_input)(const ConvShape& g, const T* plane, int64_t tp, int64_t tq, T* v, int64_t ld, T* buf);
  void (*winograd_output)(const ConvShape& g, const T* m, int64_t ld, int64_t tp, int64_t tq, T bias, T* plane, T* buf);
  // Winograd F(4x4, 3x3) (ops/cpu/conv_winograd.h): weights [i0, i1) into u (36 matrices K * C apart);
  // channel c of images [n0, n0 + gs) into v (36 rows ld apart, one column per tile; buf: 36 * (columns
  // + 8) + 4 * tq + 2);
  // output channel k of those images from m (36 rows ld apart; buf: 40 * columns + 8), plus the bias.
  void (*winograd4_weight)(const ConvShape& g, const T* w, T* u, int64_t i0, int64_t i1);
  void (*winograd4_input)(const ConvShape& g, const T* x, int64_t n0, int64_t gs, int64_t c, int64_t tp, int64_t tq,
                          T* v, int64_t ld, T* buf);
  void (*winograd4_output)(const ConvShape& g, const T* m, int64_t ld, int64_t n0, int64_t gs, int64_t k, int64_t tp,
                           int64_t tq, T bias, T* y, T* buf);
  // Its weight gradient: output channel k of dy's tiles turned into A dy A^T (36 rows ld apart; buf:
  // 40 * columns + 128); dw of filters [i0, i1) = G^T du G from du (36 matrices K * C apart).
  void (*winograd4_grad_output)(const ConvShape& g, const T* dy, int64_t n0, int64_t gs, int64_t k, int64_t tp,
                                int64_t tq, T* d, int64_t ld, T* buf);
  void (*winograd4_grad_weight)(const ConvShape& g, const T* du, T* dw, int64_t i0, int64_t i1);
  // Elements [i0, i1) of the SGD and EMA updates (ops/cpu/optim.h).
  void (*sgd)(int64_t i0, int64_t i1, T* p, const T* g, T* buf, const ops::SgdParams& o, bool first);
  void (*ema)(int64_t i0, int64_t i1, T* t, const T* s, double m);
};

struct IsaKernelTable {
  IsaKernels<float> f32;
  IsaKernels<double> f64;
};

// The table of one version (compiled in, whether or not this CPU runs it).
const IsaKernelTable& isa_kernel_table(Isa isa);

// The loops of the active version.
template <typename T>
const IsaKernels<T>& isa_kernels();

}  // namespace resa::cpu
