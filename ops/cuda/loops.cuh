// Internal to ops/cuda: strided N-operand indexing and launch sizing shared by the kernels.
//
// Operands share one shape and have one stride vector each (elements; 0 on broadcast dims). As on the
// CPU (ops/cpu/loops.h), adjacent dims that are contiguous for every operand are merged on the host,
// so that a broadcast over (N, C, H, W) + (1, C, 1, 1) indexes 3 dims, and a fully contiguous case
// becomes one flat loop with no division at all.
#pragma once
// Include this header first in every .cu file (its own include block, so that sorting keeps it first;
// CMakeLists.txt also defines both macros for CUDA files). fmt 9 under nvcc 13 in C++20 breaks twice: the front end
// cannot evaluate its consteval format-string check, and with __NVCC__ fmt drops `constexpr` from
// helpers that its remaining constexpr functions call, which gcc rejects. So CUDA translation units
// check format strings at run time and keep fmt's constexpr helpers.
#ifndef FMT_CONSTEVAL
#define FMT_CONSTEVAL
#endif
#ifndef FMT_USE_CONSTEXPR
#define FMT_USE_CONSTEXPR 1
#endif

#include <array>
#include <cstdint>
#include <vector>

#include "resa/core/dtype.h"
#include "resa/core/error.h"
#include "resa/core/shape.h"
#include "resa/ops/cuda/check.h"

namespace resa::cuda {

constexpr int kMaxDims = 12;
constexpr int kBlock = 256;

template <int N>
struct Geometry {
  int ndim = 0;
  int64_t numel = 1;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];
  bool flat = false;        // one dim and unit strides everywhere: offset == linear index
  bool fits_32bit = false;  // numel and every offset below 2^31: 32-bit index arithmetic

  // Element offsets of `linear` (row-major over sizes) in each operand. I is int32 or int64.
  template <typename I>
  __device__ __forceinline__ void offsets(I linear, int64_t (&off)[N]) const {
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      I size = static_cast<I>(sizes[d]);
      I idx = linear % size;
      linear /= size;
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += static_cast<int64_t>(idx) * strides[k][d];
    }
  }
};

template <int N>
Geometry<N> make_geometry(const std::vector<int64_t>& shape, const std::array<const std::vector<int64_t>*, N>& st,
                          const char* op) {
  Geometry<N> g;
  std::vector<int64_t> sizes;
  std::array<std::vector<int64_t>, N> strides;
  for (size_t d = 0; d < shape.size(); ++d) {
    g.numel *= shape[d];
    if (shape[d] == 1) continue;
    bool merge = !sizes.empty();
    for (int k = 0; k < N && merge; ++k) merge = strides[k].back() == (*st[k])[d] * shape[d];
    if (merge) {
      sizes.back() *= shape[d];
      for (int k = 0; k < N; ++k) strides[k].back() = (*st[k])[d];
    } else {
      sizes.push_back(shape[d]);
      for (int k = 0; k < N; ++k) strides[k].push_back((*st[k])[d]);
    }
  }
  if (sizes.empty()) {
    sizes.push_back(1);
    for (int k = 0; k < N; ++k) strides[k].push_back(0);
  }
  RESA_CHECK(static_cast<int>(sizes.size()) <= kMaxDims,
             "[{}] CUDA kernels take at most {} non-mergeable dims, got {} for shape {}", op, kMaxDims, sizes.size(),
             shape_str(shape));
  g.ndim = static_cast<int>(sizes.size());
  g.flat = g.ndim == 1;
  int64_t max_off = 0;
  for (int k = 0; k < N; ++k) {
    int64_t span = 0;
    for (int d = 0; d < g.ndim; ++d) {
      g.strides[k][d] = strides[k][d];
      span += (sizes[d] - 1) * (strides[k][d] < 0 ? -strides[k][d] : strides[k][d]);
      if (g.flat && strides[k][d] != 1) g.flat = false;
    }
    max_off = std::max(max_off, span);
  }
  for (int d = 0; d < g.ndim; ++d) g.sizes[d] = sizes[d];
  g.fits_32bit = g.numel < (int64_t{1} << 31) && max_off < (int64_t{1} << 31);
  return g;
}

// Runs f(float{}) or f(double{}) for a float32 or float64 tensor: the kernels' element types.
template <typename F>
void dispatch_float(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::Float32:
      f(float{});
      return;
    case DType::Float64:
      f(double{});
      return;
    default:
      RESA_FAIL("[{}] CUDA kernel supports float32 and float64, got {}", op, dtype_name(dt));
  }
}

// Grid-stride loops: each thread takes items t, t + (threads in the grid), ... below total. The _I form
// indexes with I (int32_t where the geometry fits, see Geometry::fits_32bit).
#define RESA_GRID_STRIDE(t, total) \
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < (total); t += int64_t(gridDim.x) * blockDim.x)
#define RESA_GRID_STRIDE_I(I, t, total) \
  for (I t = blockIdx.x * I(blockDim.x) + threadIdx.x; t < (total); t += I(gridDim.x) * I(blockDim.x))

// Grid size for a grid-stride loop over n items with kBlock threads.
inline unsigned grid_for(int64_t n, int block = kBlock) {
  int64_t blocks = (n + block - 1) / block;
  int64_t cap = static_cast<int64_t>(sm_count()) * 32;
  if (blocks > cap) blocks = cap;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

}  // namespace resa::cuda
