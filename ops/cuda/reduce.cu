// CUDA reductions over the middle axis of x: (outer, r, inner) -> out: (outer, inner).
//
// Every op folds (value as double, index) pairs, so Sum/Mean accumulate in double as on the CPU and
// Max/Min/ArgMax share one code path. Which kernel runs depends on the geometry:
//   - few elements per output (r <= 32) or many outputs along a wide inner axis: one thread per output,
//     reading down the r axis (coalesced across inner);
//   - inner == 1 (rows): a warp per row (r <= 2048) or a block per row;
//   - inner > 1 with few outputs (column sums of a tall matrix): 32 columns x 8 row-lanes per block.
// When there are too few outputs to fill the GPU and r is long, r is split into segments whose partial
// pairs are folded by a second, one-thread-per-output pass.
#include <cfloat>

#include "resa/ops/cuda/loops.cuh"  // first: see there

#include "resa/ops/cuda/kernels.h"

namespace resa::cuda {
namespace {

using ops::ReduceOp;

struct Acc {
  double v;
  int64_t i;
};

enum class Fold { Sum, Max, Min };

template <Fold F>
__device__ __forceinline__ Acc identity() {
  if constexpr (F == Fold::Sum)
    return {0.0, 0};
  else if constexpr (F == Fold::Max)
    return {-INFINITY, INT64_MAX};
  else
    return {INFINITY, INT64_MAX};
}

// Order-independent combine: NaN wins (the first NaN), else the larger (smaller) value, ties to the
// lower index; so the result equals the CPU's sequential scan whatever the reduction tree.
template <Fold F>
__device__ __forceinline__ Acc combine(Acc a, Acc b) {
  if constexpr (F == Fold::Sum) {
    return {a.v + b.v, 0};
  } else {
    bool an = a.v != a.v, bn = b.v != b.v;
    if (an || bn) {
      if (an && bn) return a.i < b.i ? a : b;
      return an ? a : b;
    }
    bool a_better = F == Fold::Max ? a.v > b.v : a.v < b.v;
    bool b_better = F == Fold::Max ? b.v > a.v : b.v < a.v;
    if (a_better) return a;
    if (b_better) return b;
    return a.i < b.i ? a : b;
  }
}

template <Fold F>
__device__ __forceinline__ Acc warp_fold(Acc a) {
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) {
    Acc o{__shfl_xor_sync(0xffffffffu, a.v, s), __shfl_xor_sync(0xffffffffu, a.i, s)};
    a = combine<F>(a, o);
  }
  return a;
}

// Reading element k of r: from the input (index = k + base) or from a partial pair.
template <typename T>
__device__ __forceinline__ Acc load(const T* p, int64_t pos, int64_t k) {
  return {static_cast<double>(p[pos]), k};
}
__device__ __forceinline__ Acc load(const Acc* p, int64_t pos, int64_t) { return p[pos]; }

// Writes a final value (T) or a partial pair (Acc).
template <typename T>
struct FinalOut {
  void* out;
  ReduceOp op;
  double scale;
  __device__ __forceinline__ void put(int64_t pos, Acc a) const {
    if (op == ReduceOp::ArgMax)
      static_cast<int64_t*>(out)[pos] = a.i;
    else if (op == ReduceOp::Sum || op == ReduceOp::Mean)
      static_cast<T*>(out)[pos] = static_cast<T>(a.v * scale);
    else
      static_cast<T*>(out)[pos] = static_cast<T>(a.v);
  }
};
struct PartialOut {
  Acc* out;
  __device__ __forceinline__ void put(int64_t pos, Acc a) const { out[pos] = a; }
};

// One thread per (o, i, segment). x: (outer, r, inner); output position ((o * segs) + s) * inner + i,
// which for segs == 1 is the final (outer, inner) layout.
template <Fold F, typename In, typename Out>
__global__ void reduce_thread_kernel(const In* __restrict__ x, int64_t outer, int64_t r, int64_t inner, int64_t segs,
                                     int64_t seg_len, Out out) {
  const int64_t total = outer * segs * inner;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    int64_t i = t % inner;
    int64_t s = (t / inner) % segs;
    int64_t o = t / (inner * segs);
    int64_t k0 = s * seg_len, k1 = min(r, k0 + seg_len);
    Acc a = identity<F>();
    const In* base = x + o * r * inner + i;
    for (int64_t k = k0; k < k1; ++k) a = combine<F>(a, load(base, k * inner, k));
    out.put(t, a);
  }
}

// inner == 1: `group` threads (32 or kBlock) per (row, segment).
template <Fold F, typename In, typename Out>
__global__ void reduce_row_kernel(const In* __restrict__ x, int64_t outer, int64_t r, int64_t segs, int64_t seg_len,
                                  int group, Out out) {
  __shared__ Acc smem[kBlock / 32];
  const int lane_in_group = threadIdx.x % group;
  const int groups_per_block = blockDim.x / group;
  const int64_t items = outer * segs;
  // Every thread of a block runs the same number of iterations (the bound uses the block's first item),
  // so that __syncthreads below is reached by all of them.
  for (int64_t first = blockIdx.x * int64_t(groups_per_block); first < items;
       first += int64_t(gridDim.x) * groups_per_block) {
    int64_t item = first + threadIdx.x / group;
    Acc a = identity<F>();
    if (item < items) {
      int64_t o = item / segs, s = item % segs;
      int64_t k0 = s * seg_len, k1 = min(r, k0 + seg_len);
      const In* row = x + o * r;
      for (int64_t k = k0 + lane_in_group; k < k1; k += group) a = combine<F>(a, load(row, k, k));
    }
    a = warp_fold<F>(a);
    if (group > 32) {
      if (threadIdx.x % 32 == 0) smem[threadIdx.x / 32] = a;
      __syncthreads();
      if (threadIdx.x < 32) {
        a = threadIdx.x < blockDim.x / 32 ? smem[threadIdx.x] : identity<F>();
        a = warp_fold<F>(a);
      }
      __syncthreads();
      if (threadIdx.x == 0 && item < items) out.put(item, a);
    } else if (lane_in_group == 0 && item < items) {
      out.put(item, a);
    }
  }
}

// inner > 1 with few outputs: a block covers 32 consecutive columns of one outer slice; its 8 row-lanes
// stride down r within a segment (blockIdx.y) and are folded through shared memory.
constexpr int kColX = 32, kColY = 8;
template <Fold F, typename In, typename Out>
__global__ void reduce_col_kernel(const In* __restrict__ x, int64_t outer, int64_t r, int64_t inner, int64_t segs,
                                  int64_t seg_len, Out out) {
  __shared__ Acc smem[kColY][kColX + 1];
  const int64_t tiles = (inner + kColX - 1) / kColX;
  const int64_t s = blockIdx.y;
  for (int64_t tile = blockIdx.x; tile < outer * tiles; tile += gridDim.x) {
    int64_t o = tile / tiles;
    int64_t i = (tile % tiles) * kColX + threadIdx.x;
    Acc a = identity<F>();
    if (i < inner) {
      int64_t k0 = s * seg_len, k1 = min(r, k0 + seg_len);
      const In* base = x + o * r * inner + i;
      for (int64_t k = k0 + threadIdx.y; k < k1; k += kColY) a = combine<F>(a, load(base, k * inner, k));
    }
    smem[threadIdx.y][threadIdx.x] = a;
    __syncthreads();
    if (threadIdx.y == 0) {
      for (int y = 1; y < kColY; ++y) a = combine<F>(a, smem[y][threadIdx.x]);
      if (i < inner) out.put((o * segs + s) * inner + i, a);
    }
    __syncthreads();
  }
}

template <typename T, Fold F>
void run_reduce(ReduceOp op, int64_t outer, int64_t r, int64_t inner, const T* x, void* out_raw) {
  const int64_t outputs = outer * inner;
  if (outputs == 0) return;
  const int64_t sms = sm_count();
  const double scale = op == ReduceOp::Mean ? 1.0 / static_cast<double>(r) : 1.0;
  FinalOut<T> fin{out_raw, op, scale};
  cudaStream_t st = stream();

  const bool wide = inner > 1 && outputs >= sms * 1024;
  if (r <= 32 || wide) {
    reduce_thread_kernel<F><<<grid_for(outputs), kBlock, 0, st>>>(x, outer, r, inner, int64_t{1}, r, fin);
    RESA_CUDA_LAUNCH_CHECK("reduce_thread_kernel");
    return;
  }

  // Work units before splitting r: rows (inner == 1) or 32-column tiles (inner > 1).
  const int64_t units = inner == 1 ? outer : outer * ((inner + kColX - 1) / kColX);
  const int64_t min_seg = inner == 1 ? 4096 : 256;
  int64_t segs = 1;
  if (units < 2 * sms && r >= 2 * min_seg)
    segs = std::min<int64_t>(std::min<int64_t>((4 * sms + units - 1) / units, r / min_seg), 64);
  const int64_t seg_len = (r + segs - 1) / segs;

  auto launch_first = [&](auto sink) {
    if (inner == 1) {
      int group = r <= 2048 ? 32 : kBlock;
      int64_t items = outer * segs;
      int64_t per_block = kBlock / group;
      unsigned grid = static_cast<unsigned>(std::min<int64_t>((items + per_block - 1) / per_block, sms * 32));
      reduce_row_kernel<F><<<grid, kBlock, 0, st>>>(x, outer, r, segs, seg_len, group, sink);
      RESA_CUDA_LAUNCH_CHECK("reduce_row_kernel");
    } else {
      int64_t tiles = units;
      dim3 grid(static_cast<unsigned>(std::min<int64_t>(tiles, sms * 32)), static_cast<unsigned>(segs));
      reduce_col_kernel<F><<<grid, dim3(kColX, kColY), 0, st>>>(x, outer, r, inner, segs, seg_len, sink);
      RESA_CUDA_LAUNCH_CHECK("reduce_col_kernel");
    }
  };
  if (segs == 1) {
    launch_first(fin);
    return;
  }
  // Partials (outer, segs, inner), folded by the one-thread-per-output kernel.
  DeviceBuffer partial(static_cast<size_t>(outer * segs * inner) * sizeof(Acc));
  launch_first(PartialOut{partial.as<Acc>()});
  reduce_thread_kernel<F>
      <<<grid_for(outputs), kBlock, 0, st>>>(partial.as<Acc>(), outer, segs, inner, int64_t{1}, segs, fin);
  RESA_CUDA_LAUNCH_CHECK("reduce_thread_kernel (second pass)");
}

}  // namespace

void reduce(ops::ReduceOp op, DType dtype, int64_t outer, int64_t r, int64_t inner, const void* x, void* out) {
  RESA_DISPATCH_FLOAT(dtype, "reduce", [&] {
    const auto* px = static_cast<const scalar_t*>(x);
    switch (op) {
      case ReduceOp::Sum:
      case ReduceOp::Mean:
        return run_reduce<scalar_t, Fold::Sum>(op, outer, r, inner, px, out);
      case ReduceOp::Max:
      case ReduceOp::ArgMax:
        return run_reduce<scalar_t, Fold::Max>(op, outer, r, inner, px, out);
      case ReduceOp::Min:
        return run_reduce<scalar_t, Fold::Min>(op, outer, r, inner, px, out);
    }
  });
}

}  // namespace resa::cuda
