#include "resa/ops/linalg.h"

#include <algorithm>

#include "resa/core/parallel.h"
#include "resa/core/views.h"
#include "resa/ops/cpu/gemm.h"
#include "resa/ops/dispatch.h"
#include "resa/ops/elementwise.h"
#ifdef RESA_WITH_CUDA
#include "resa/ops/cuda/kernels.h"
#endif

namespace resa::ops {
namespace {

// How a GEMM reads the last two dims of an operand: directly (row-major, leading dim ld), as a
// transpose (column-major), or not at all (then it is copied first).
struct MatrixLayout {
  bool ok = false;
  bool trans = false;
  int64_t ld = 0;
};

// Up to this many multiply-adds per matrix, a batch is split across threads instead of each GEMM.
constexpr int64_t kSmallGemm = 96 * 96 * 96;

MatrixLayout layout_of(const Tensor& t) {
  int64_t r = t.size(-2), c = t.size(-1), sr = t.stride(-2), sc = t.stride(-1);
  if ((sc == 1 || c == 1) && (sr >= std::max<int64_t>(c, 1) || r == 1))
    return {true, false, std::max<int64_t>({sr, c, 1})};
  if ((sr == 1 || r == 1) && (sc >= std::max<int64_t>(r, 1) || c == 1))
    return {true, true, std::max<int64_t>({sc, r, 1})};
  return {};
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  check_same_device("matmul", a_in, b_in);
  check_same_dtype("matmul", a_in, b_in);
  check_floating("matmul", a_in);
  RESA_CHECK(a_in.dim() >= 2 && b_in.dim() >= 2, "[matmul] {} x {}: both operands need at least 2 dims here",
             shape_str(a_in.shape()), shape_str(b_in.shape()));
  const int64_t m = a_in.size(-2), k = a_in.size(-1), n = b_in.size(-1);
  RESA_CHECK(b_in.size(-2) == k, "[matmul] {} x {}: inner dimensions {} and {} differ", shape_str(a_in.shape()),
             shape_str(b_in.shape()), k, b_in.size(-2));
  Shape batch_a(a_in.shape().begin(), a_in.shape().end() - 2), batch_b(b_in.shape().begin(), b_in.shape().end() - 2);
  Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  // Expand batch dims (a view), then read each batch's matrix through its strides.
  Shape ea = batch, eb = batch;
  ea.insert(ea.end(), {m, k});
  eb.insert(eb.end(), {k, n});
  Tensor a = expand_view(a_in, ea), b = expand_view(b_in, eb);
  MatrixLayout la = layout_of(a), lb = layout_of(b);
  if (!la.ok) a = contiguous_copy(a), la = layout_of(a);
  if (!lb.ok) b = contiguous_copy(b), lb = layout_of(b);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  const int64_t nb = numel_of(batch);
  if (out.numel() == 0) return out;
  if (k == 0) return out.zero_(), out;

  // Element offsets of each batch's matrix in a, b and out.
  auto batch_offset = [&](const Tensor& t, int64_t idx) {
    int64_t off = t.offset();
    for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
      off += (idx % batch[d]) * t.strides()[d];
      idx /= batch[d];
    }
    return off;
  };
  // A batch against one shared B (e.g. a Linear layer on (N, T, in)): when a's matrices follow each other
  // at the row stride, the whole batch is one (nb * m, k) GEMM, far faster than nb thin ones.
  int64_t gm = m, gnb = nb;
  if (nb > 1 && !la.trans) {
    bool fold = true;
    int64_t expected = m * la.ld;
    for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0 && fold; --d) {
      if (batch[d] == 1) continue;
      fold = b.strides()[d] == 0 && a.strides()[d] == expected;
      expected *= batch[d];
    }
    if (fold) gm = nb * m, gnb = 1;
  }
  if (a.device().is_cuda()) {
#ifdef RESA_WITH_CUDA
    for (int64_t i = 0; i < gnb; ++i)
      cuda::gemm(a.dtype(), la.trans, lb.trans, gm, n, k, a.storage()->data(), batch_offset(a, i), la.ld,
                 b.storage()->data(), batch_offset(b, i), lb.ld, out.raw_data(), i * gm * n, n);
    return out;
#else
    dispatch::no_cuda_kernel("matmul");
#endif
  }
  RESA_DISPATCH_FLOAT(a.dtype(), "matmul", [&] {
    auto* pa = static_cast<const scalar_t*>(a.storage()->data());
    auto* pb = static_cast<const scalar_t*>(b.storage()->data());
    auto* po = static_cast<scalar_t*>(out.raw_data());
    // Many small products: one thread per batch entry (each GEMM then runs serially); a large one
    // threads inside the GEMM.
    const bool per_batch = gnb > 1 && m * n * k <= kSmallGemm;
    parallel_for(gnb, per_batch ? 1 : gnb, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        cpu::gemm(la.trans, lb.trans, gm, n, k, scalar_t(1), pa + batch_offset(a, i), la.ld, pb + batch_offset(b, i),
                  lb.ld, scalar_t(0), po + i * gm * n, n);
    });
  });
  return out;
}

}  // namespace resa::ops
