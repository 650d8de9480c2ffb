// CUDA kernels of the indexing ops (mirrors ops/cpu/index.h). Indices were bounds-checked by the caller.
// The accumulating ops (index_add, scatter_add) give each thread one position outside the indexed dim
// and walk the indexed dim in order, as the CPU does: no atomics, so repeated indices add up in the
// same order and the result is deterministic and equal to the CPU's.
#include "resa/ops/cuda/loops.cuh"  // first: see there

#include "resa/ops/cuda/kernels.h"

namespace resa::cuda {
namespace {

// x: (outer, n, inner), index: (k) -> out: (outer, k, inner), one thread per output element.
template <typename T>
__global__ void index_select_kernel(int64_t outer, int64_t n, int64_t inner, int64_t k,
                                    const int64_t* __restrict__ index, const T* __restrict__ x, T* __restrict__ out) {
  const int64_t total = outer * k * inner;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = t % inner, j = (t / inner) % k, o = t / (inner * k);
    out[t] = x[(o * n + index[j]) * inner + i];
  }
}

// dst: (outer, n, inner) += src: (outer, k, inner) at index, one thread per (o, i).
template <typename T>
__global__ void index_add_kernel(int64_t outer, int64_t n, int64_t inner, int64_t k, const int64_t* __restrict__ index,
                                 const T* __restrict__ src, T* __restrict__ dst) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < outer * inner;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = t % inner, o = t / inner;
    for (int64_t j = 0; j < k; ++j) {
      T& d = dst[(o * n + index[j]) * inner + i];
      d = static_cast<T>(d + src[(o * k + j) * inner + i]);
    }
  }
}

struct IndexGeometry {
  int ndim;
  int dim;
  int64_t sizes[kMaxDims];    // index shape
  int64_t strides[kMaxDims];  // of x (gather) or dst (scatter_add)
};

IndexGeometry make_index_geometry(int64_t dim, const Dims& index_shape, const Dims& strides, const char* op) {
  IndexGeometry g{};
  RESA_CHECK(index_shape.size() <= static_cast<size_t>(kMaxDims), "[{}] CUDA kernels take at most {} dims, got {}", op,
             kMaxDims, shape_str(index_shape));
  g.ndim = static_cast<int>(index_shape.size());
  g.dim = static_cast<int>(dim);
  for (int d = 0; d < g.ndim; ++d) {
    g.sizes[d] = index_shape[static_cast<size_t>(d)];
    g.strides[d] = strides[static_cast<size_t>(d)];
  }
  return g;
}

// index, out: index shape contiguous; out[p] = x[p with coordinate dim replaced by index[p]].
template <typename T>
__global__ void gather_kernel(IndexGeometry g, int64_t total, const int64_t* __restrict__ index,
                              const T* __restrict__ x, T* __restrict__ out) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    int64_t rem = t, off = 0;
    for (int d = g.ndim - 1; d >= 0; --d) {
      const int64_t c = rem % g.sizes[d];
      rem /= g.sizes[d];
      off += (d == g.dim ? index[t] : c) * g.strides[d];
    }
    out[t] = x[off];
  }
}

// One thread per position q of the index shape with coordinate dim = 0; it walks coordinate dim in order:
// dst[p with dim replaced by index[p]] += src[p].
template <typename T>
__global__ void scatter_add_kernel(IndexGeometry g, int64_t lines, const int64_t* __restrict__ index,
                                   const T* __restrict__ src, T* __restrict__ dst) {
  const int64_t len = g.ndim == 0 ? 1 : g.sizes[g.dim];
  int64_t inner = 1;  // contiguous stride of dim in the index shape
  for (int d = g.ndim - 1; d > g.dim; --d) inner *= g.sizes[d];
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < lines; t += int64_t(gridDim.x) * blockDim.x) {
    // Decompose t over the index shape without dim; p0 = its contiguous position with coordinate dim = 0.
    int64_t rem = t, p0 = 0, off = 0, mul = 1;
    for (int d = g.ndim - 1; d >= 0; --d) {
      if (d == g.dim) {
        mul *= g.sizes[d];
        continue;
      }
      const int64_t c = rem % g.sizes[d];
      rem /= g.sizes[d];
      p0 += c * mul;
      mul *= g.sizes[d];
      off += c * g.strides[d];
    }
    for (int64_t j = 0; j < len; ++j) {
      const int64_t p = p0 + j * inner;
      T& d = dst[off + index[p] * (g.ndim == 0 ? 0 : g.strides[g.dim])];
      d = static_cast<T>(d + src[p]);
    }
  }
}

}  // namespace

void index_select(DType dtype, int64_t outer, int64_t n, int64_t inner, int64_t k, const int64_t* index, const void* x,
                  void* out) {
  const int64_t total = outer * k * inner;
  if (total == 0) return;
  RESA_DISPATCH_ALL(dtype, "index_select", [&] {
    index_select_kernel<<<grid_for(total), kBlock, 0, stream()>>>(
        outer, n, inner, k, index, static_cast<const scalar_t*>(x), static_cast<scalar_t*>(out));
    RESA_CUDA_LAUNCH_CHECK("index_select_kernel");
  });
}

void index_add(DType dtype, int64_t outer, int64_t n, int64_t inner, int64_t k, const int64_t* index, const void* src,
               void* dst) {
  if (outer * inner == 0 || k == 0) return;
  RESA_DISPATCH_ALL(dtype, "index_add", [&] {
    index_add_kernel<<<grid_for(outer * inner), kBlock, 0, stream()>>>(
        outer, n, inner, k, index, static_cast<const scalar_t*>(src), static_cast<scalar_t*>(dst));
    RESA_CUDA_LAUNCH_CHECK("index_add_kernel");
  });
}

void gather(DType dtype, int64_t dim, const Dims& index_shape, const int64_t* index, const void* x,
            const Dims& x_strides, void* out) {
  const int64_t total = numel_of(index_shape);
  if (total == 0) return;
  IndexGeometry g = make_index_geometry(dim, index_shape, x_strides, "gather");
  RESA_DISPATCH_ALL(dtype, "gather", [&] {
    gather_kernel<<<grid_for(total), kBlock, 0, stream()>>>(g, total, index, static_cast<const scalar_t*>(x),
                                                            static_cast<scalar_t*>(out));
    RESA_CUDA_LAUNCH_CHECK("gather_kernel");
  });
}

void scatter_add(DType dtype, int64_t dim, const Dims& index_shape, const int64_t* index, const void* src, void* dst,
                 const Dims& dst_strides) {
  const int64_t total = numel_of(index_shape);
  if (total == 0) return;
  IndexGeometry g = make_index_geometry(dim, index_shape, dst_strides, "scatter_add");
  const int64_t lines = index_shape.empty() ? 1 : total / index_shape[static_cast<size_t>(dim)];
  RESA_DISPATCH_ALL(dtype, "scatter_add", [&] {
    scatter_add_kernel<<<grid_for(lines), kBlock, 0, stream()>>>(g, lines, index, static_cast<const scalar_t*>(src),
                                                                 static_cast<scalar_t*>(dst));
    RESA_CUDA_LAUNCH_CHECK("scatter_add_kernel");
  });
}

}  // namespace resa::cuda
