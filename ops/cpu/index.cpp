#include "resa/ops/cpu/index.h"

#include <algorithm>
#include <cstring>

#include "resa/core/parallel.h"

namespace resa::cpu {
namespace {

constexpr int64_t kColumnBlock = 512;

// Runs f(o, i0, b) over every outer slice o and block of b inner columns starting at i0, split across threads.
template <typename F>
void for_each_block(int64_t outer, int64_t inner, int64_t work_per_column, F&& f) {
  const int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  const int64_t per_task = std::max<int64_t>(1, work_per_column * std::min(inner, kColumnBlock));
  const int64_t grain = std::max<int64_t>(1, 32768 / per_task);
  parallel_for(outer * blocks, grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / blocks, i0 = (t % blocks) * kColumnBlock;
      f(o, i0, std::min(kColumnBlock, inner - i0));
    }
  });
}

template <typename T>
void index_select_typed(int64_t outer, int64_t n, int64_t inner, int64_t k, const int64_t* index, const T* x, T* out) {
  for_each_block(outer, inner, k, [&](int64_t o, int64_t i0, int64_t b) {
    for (int64_t j = 0; j < k; ++j)
      std::memcpy(out + (o * k + j) * inner + i0, x + (o * n + index[j]) * inner + i0, sizeof(T) * b);
  });
}

template <typename T>
void index_add_typed(int64_t outer, int64_t n, int64_t inner, int64_t k, const int64_t* index, const T* src, T* dst) {
  for_each_block(outer, inner, k, [&](int64_t o, int64_t i0, int64_t b) {
    for (int64_t j = 0; j < k; ++j) {
      const T* s = src + (o * k + j) * inner + i0;
      T* d = dst + (o * n + index[j]) * inner + i0;
      for (int64_t i = 0; i < b; ++i) d[i] += s[i];
    }
  });
}

// The coordinates of index other than `dim`: for line l (row-major over those coordinates), the offset of
// its first element in index (contiguous) and in the other operand (through `strides`).
struct Lines {
  std::vector<int64_t> sizes, index_strides, other_strides;
  int64_t count = 1, len = 1, index_step = 1, other_step = 1;

  Lines(int64_t dim, const std::vector<int64_t>& index_shape, const std::vector<int64_t>& strides) {
    const int64_t r = static_cast<int64_t>(index_shape.size());
    std::vector<int64_t> contig(index_shape.size());
    int64_t acc = 1;
    for (int64_t d = r - 1; d >= 0; --d) contig[d] = acc, acc *= index_shape[d];
    for (int64_t d = 0; d < r; ++d) {
      if (d == dim) continue;
      sizes.push_back(index_shape[d]);
      index_strides.push_back(contig[d]);
      other_strides.push_back(strides[d]);
      count *= index_shape[d];
    }
    if (r > 0) {
      len = index_shape[dim];
      index_step = contig[dim];
      other_step = strides[dim];
    }
  }
  void offsets(int64_t l, int64_t& index_off, int64_t& other_off) const {
    index_off = other_off = 0;
    for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
      const int64_t c = l % sizes[d];
      l /= sizes[d];
      index_off += c * index_strides[d];
      other_off += c * other_strides[d];
    }
  }
};

template <typename T>
void gather_typed(int64_t dim, const std::vector<int64_t>& index_shape, const int64_t* index, const T* x,
                  const std::vector<int64_t>& x_strides, T* out) {
  Lines lines(dim, index_shape, x_strides);
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(lines.len, 1));
  parallel_for(lines.count, grain, [&](int64_t l0, int64_t l1) {
    for (int64_t l = l0; l < l1; ++l) {
      int64_t io, xo;
      lines.offsets(l, io, xo);
      for (int64_t j = 0; j < lines.len; ++j) {
        const int64_t p = io + j * lines.index_step;
        out[p] = x[xo + index[p] * lines.other_step];
      }
    }
  });
}

template <typename T>
void scatter_add_typed(int64_t dim, const std::vector<int64_t>& index_shape, const int64_t* index, const T* src, T* dst,
                       const std::vector<int64_t>& dst_strides) {
  Lines lines(dim, index_shape, dst_strides);
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(lines.len, 1));
  parallel_for(lines.count, grain, [&](int64_t l0, int64_t l1) {
    for (int64_t l = l0; l < l1; ++l) {
      int64_t io, dof;
      lines.offsets(l, io, dof);
      for (int64_t j = 0; j < lines.len; ++j) {
        const int64_t p = io + j * lines.index_step;
        dst[dof + index[p] * lines.other_step] += src[p];
      }
    }
  });
}

}  // namespace

void index_select(DType dtype, int64_t outer, int64_t n, int64_t inner, int64_t k, const int64_t* index, const void* x,
                  void* out) {
  RESA_DISPATCH_ALL(dtype, "index_select", [&] {
    index_select_typed<scalar_t>(outer, n, inner, k, index, static_cast<const scalar_t*>(x),
                                 static_cast<scalar_t*>(out));
  });
}

void index_add(DType dtype, int64_t outer, int64_t n, int64_t inner, int64_t k, const int64_t* index, const void* src,
               void* dst) {
  RESA_DISPATCH_ALL(dtype, "index_add", [&] {
    index_add_typed<scalar_t>(outer, n, inner, k, index, static_cast<const scalar_t*>(src),
                              static_cast<scalar_t*>(dst));
  });
}

void gather(DType dtype, int64_t dim, const std::vector<int64_t>& index_shape, const int64_t* index, const void* x,
            const std::vector<int64_t>& x_strides, void* out) {
  RESA_DISPATCH_ALL(dtype, "gather", [&] {
    gather_typed<scalar_t>(dim, index_shape, index, static_cast<const scalar_t*>(x), x_strides,
                           static_cast<scalar_t*>(out));
  });
}

void scatter_add(DType dtype, int64_t dim, const std::vector<int64_t>& index_shape, const int64_t* index,
                 const void* src, void* dst, const std::vector<int64_t>& dst_strides) {
  RESA_DISPATCH_ALL(dtype, "scatter_add", [&] {
    scatter_add_typed<scalar_t>(dim, index_shape, index, static_cast<const scalar_t*>(src), static_cast<scalar_t*>(dst),
                                dst_strides);
  });
}

}  // namespace resa::cpu
