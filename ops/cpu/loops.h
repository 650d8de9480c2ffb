// Strided N-d loops shared by the CPU kernels (elementwise, copy, where).
//
// Operands are described by a common shape and one stride vector each (in elements; 0 on broadcast
// dims). Adjacent dims that are contiguous for every operand are merged first, so that
// (N, C, H, W) + (1, C, 1, 1) runs as N*C inner loops of length H*W.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "resa/core/parallel.h"

namespace resa::cpu {

template <size_t N>
struct StridedGeometry {
  std::vector<int64_t> shape;
  std::array<std::vector<int64_t>, N> strides;
};

// Merges dims i-1 and i when, for every operand, stride[i-1] == stride[i] * shape[i]; drops size-1 dims.
template <size_t N>
StridedGeometry<N> coalesce(const std::vector<int64_t>& shape, const std::array<std::vector<int64_t>, N>& strides) {
  StridedGeometry<N> g;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !g.shape.empty();
    for (size_t k = 0; k < N && merge; ++k) merge = g.strides[k].back() == strides[k][d] * shape[d];
    if (merge) {
      g.shape.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) g.strides[k].back() = strides[k][d];
    } else {
      g.shape.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) g.strides[k].push_back(strides[k][d]);
    }
  }
  if (g.shape.empty()) {  // a scalar (or all dims of size 1)
    g.shape.push_back(1);
    for (size_t k = 0; k < N; ++k) g.strides[k].push_back(0);
  }
  return g;
}

// Calls f(offsets, n, inner_strides) for each innermost row, or piece of one: `offsets` are the element
// offsets of the piece's first element in each operand, `n` its length. Rows longer than kRowPiece are
// cut into pieces, so that one long row (a contiguous tensor coalesces to a single row) is split across
// threads too; rows, or pieces, are split across threads.
constexpr int64_t kRowPiece = 32768;

template <size_t N, typename F>
void for_each_row(const std::vector<int64_t>& shape, const std::array<std::vector<int64_t>, N>& strides, F&& f) {
  auto g = coalesce<N>(shape, strides);
  const int64_t nd = static_cast<int64_t>(g.shape.size());
  const int64_t inner = g.shape[nd - 1];
  std::array<int64_t, N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = g.strides[k][nd - 1];
  int64_t rows = 1;
  for (int64_t d = 0; d < nd - 1; ++d) rows *= g.shape[d];
  const int64_t pieces = inner > kRowPiece ? (inner + kRowPiece - 1) / kRowPiece : 1;
  const int64_t piece = (inner + pieces - 1) / pieces;
  const int64_t grain = std::max<int64_t>(1, kRowPiece / std::max<int64_t>(piece, 1));
  parallel_for(rows * pieces, grain, [&](int64_t i0, int64_t i1) {
    // Offsets of the first item's row, then advance an odometer row by row.
    std::vector<int64_t> idx(nd > 1 ? nd - 1 : 0);
    std::array<int64_t, N> off{};
    int64_t rem = i0 / pieces;
    for (int64_t d = nd - 2; d >= 0; --d) {
      idx[d] = rem % g.shape[d];
      rem /= g.shape[d];
      for (size_t k = 0; k < N; ++k) off[k] += idx[d] * g.strides[k][d];
    }
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t j = i % pieces, j0 = j * piece, len = std::min(piece, inner - j0);
      std::array<int64_t, N> at = off;
      for (size_t k = 0; k < N; ++k) at[k] += j0 * inner_strides[k];
      f(at, len, inner_strides);
      if (j + 1 < pieces) continue;
      for (int64_t d = nd - 2; d >= 0; --d) {
        for (size_t k = 0; k < N; ++k) off[k] += g.strides[k][d];
        if (++idx[d] < g.shape[d]) break;
        for (size_t k = 0; k < N; ++k) off[k] -= idx[d] * g.strides[k][d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace resa::cpu
