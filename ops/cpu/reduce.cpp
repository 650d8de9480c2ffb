#include "resa/ops/cpu/reduce.h"

#include <limits>
#include <vector>

#include "resa/core/parallel.h"

namespace resa::cpu {
namespace {

template <typename T>
void reduce_typed(ops::ReduceOp op, int64_t outer, int64_t r, int64_t inner, const T* x, void* out_raw) {
  using ops::ReduceOp;
  const bool is_arg = op == ReduceOp::ArgMax;
  T* out = static_cast<T*>(out_raw);
  auto* out_idx = static_cast<int64_t*>(out_raw);
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(r * inner, 1));
  parallel_for(outer, grain, [&](int64_t o0, int64_t o1) {
    std::vector<double> acc(static_cast<size_t>(inner));
    std::vector<T> best(static_cast<size_t>(inner));
    std::vector<int64_t> best_i(static_cast<size_t>(inner));
    for (int64_t o = o0; o < o1; ++o) {
      const T* base = x + o * r * inner;
      if (op == ReduceOp::Sum || op == ReduceOp::Mean) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t k = 0; k < r; ++k) {
          const T* row = base + k * inner;
          for (int64_t i = 0; i < inner; ++i) acc[i] += static_cast<double>(row[i]);
        }
        const double scale = op == ReduceOp::Mean ? 1.0 / static_cast<double>(r) : 1.0;
        for (int64_t i = 0; i < inner; ++i) out[o * inner + i] = static_cast<T>(acc[i] * scale);
        continue;
      }
      const bool want_max = op != ReduceOp::Min;
      for (int64_t i = 0; i < inner; ++i) {
        best[i] = base[i];
        best_i[i] = 0;
      }
      for (int64_t k = 1; k < r; ++k) {
        const T* row = base + k * inner;
        for (int64_t i = 0; i < inner; ++i) {
          // NaN propagates: a NaN is taken and then kept, as in PyTorch.
          bool take = want_max ? (row[i] > best[i]) : (row[i] < best[i]);
          if ((take || row[i] != row[i]) && best[i] == best[i]) {
            best[i] = row[i];
            best_i[i] = k;
          }
        }
      }
      for (int64_t i = 0; i < inner; ++i) {
        if (is_arg)
          out_idx[o * inner + i] = best_i[i];
        else
          out[o * inner + i] = best[i];
      }
    }
  });
}

}  // namespace

void reduce(ops::ReduceOp op, DType dtype, int64_t outer, int64_t r, int64_t inner, const void* x, void* out) {
  RESA_DISPATCH_FLOAT(dtype, "reduce",
                      [&] { reduce_typed<scalar_t>(op, outer, r, inner, static_cast<const scalar_t*>(x), out); });
}

}  // namespace resa::cpu
