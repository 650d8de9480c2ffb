// Softmax kernels. Sums, maxima and the shift by the max run in double whatever the storage type, so
// logits of magnitude 1e4 in float32 lose nothing before the exp and sums over wide rows stay accurate;
// only the exp itself runs in the storage precision (see exp_t).
#include "resa/ops/cpu/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "resa/core/parallel.h"

namespace resa::cpu {
namespace {

constexpr int64_t kColumnBlock = 256;

// exp of a shifted logit (<= 0 in the forward). float32 data take the float exp, which is several
// times faster than the double one; the argument is already shifted in double, so it loses nothing
// that matters (its rounding error is relative to |x - max|, and exp is tiny where that is large).
template <typename T>
inline double exp_t(double a) {
  if constexpr (std::is_same_v<T, float>)
    return static_cast<double>(std::exp(static_cast<float>(a)));
  else
    return std::exp(a);
}  // columns handled together when the softmax dim is not innermost

// One contiguous row x: (n) -> y: (n).
template <typename T>
void softmax_row(bool log, int64_t n, const T* x, T* y) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < n; ++k) m = std::max(m, static_cast<double>(x[k]));
  double s = 0.0;
  if (log) {
    for (int64_t k = 0; k < n; ++k) s += exp_t<T>(static_cast<double>(x[k]) - m);
    const double shift = m + std::log(s);
    for (int64_t k = 0; k < n; ++k) y[k] = static_cast<T>(static_cast<double>(x[k]) - shift);
  } else {
    // y holds the unnormalised exps, then is scaled (at most two roundings in float32).
    for (int64_t k = 0; k < n; ++k) {
      const double e = exp_t<T>(static_cast<double>(x[k]) - m);
      s += e;
      y[k] = static_cast<T>(e);
    }
    const double inv = 1.0 / s;
    for (int64_t k = 0; k < n; ++k) y[k] = static_cast<T>(static_cast<double>(y[k]) * inv);
  }
}

// Columns [0, b) of one outer slice: x: (n, inner) with the first column at x -> y likewise.
// m, s: scratch of at least b doubles.
template <typename T>
void softmax_cols(bool log, int64_t n, int64_t inner, int64_t b, const T* x, T* y, double* m, double* s) {
  std::fill(m, m + b, -std::numeric_limits<double>::infinity());
  std::fill(s, s + b, 0.0);
  for (int64_t k = 0; k < n; ++k)
    for (int64_t i = 0; i < b; ++i) m[i] = std::max(m[i], static_cast<double>(x[k * inner + i]));
  for (int64_t k = 0; k < n; ++k)
    for (int64_t i = 0; i < b; ++i) s[i] += exp_t<T>(static_cast<double>(x[k * inner + i]) - m[i]);
  if (log) {
    for (int64_t i = 0; i < b; ++i) m[i] += std::log(s[i]);
    for (int64_t k = 0; k < n; ++k)
      for (int64_t i = 0; i < b; ++i) y[k * inner + i] = static_cast<T>(static_cast<double>(x[k * inner + i]) - m[i]);
  } else {
    for (int64_t i = 0; i < b; ++i) s[i] = 1.0 / s[i];
    for (int64_t k = 0; k < n; ++k)
      for (int64_t i = 0; i < b; ++i)
        y[k * inner + i] = static_cast<T>(exp_t<T>(static_cast<double>(x[k * inner + i]) - m[i]) * s[i]);
  }
}

template <typename T>
void softmax_backward_cols(bool log, int64_t n, int64_t inner, int64_t b, const T* g, const T* y, T* dx, double* s) {
  std::fill(s, s + b, 0.0);
  if (log) {
    for (int64_t k = 0; k < n; ++k)
      for (int64_t i = 0; i < b; ++i) s[i] += static_cast<double>(g[k * inner + i]);
    for (int64_t k = 0; k < n; ++k)
      for (int64_t i = 0; i < b; ++i) {
        const int64_t j = k * inner + i;
        dx[j] = static_cast<T>(static_cast<double>(g[j]) - exp_t<T>(static_cast<double>(y[j])) * s[i]);
      }
  } else {
    for (int64_t k = 0; k < n; ++k)
      for (int64_t i = 0; i < b; ++i)
        s[i] += static_cast<double>(g[k * inner + i]) * static_cast<double>(y[k * inner + i]);
    for (int64_t k = 0; k < n; ++k)
      for (int64_t i = 0; i < b; ++i) {
        const int64_t j = k * inner + i;
        dx[j] = static_cast<T>(static_cast<double>(y[j]) * (static_cast<double>(g[j]) - s[i]));
      }
  }
}

// Runs f(o, i0, b) over every outer slice o and block of b columns starting at i0, split across threads.
template <typename F>
void for_each_block(int64_t outer, int64_t n, int64_t inner, F&& f) {
  const int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  const int64_t per_task = n * std::min(inner, kColumnBlock);
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(per_task, 1));
  parallel_for(outer * blocks, grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / blocks, i0 = (t % blocks) * kColumnBlock;
      f(o, i0, std::min(kColumnBlock, inner - i0));
    }
  });
}

template <typename T>
void softmax_typed(bool log, int64_t outer, int64_t n, int64_t inner, const T* x, T* y) {
  if (inner == 1) {
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1));
    parallel_for(outer, grain, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) softmax_row(log, n, x + o * n, y + o * n);
    });
    return;
  }
  for_each_block(outer, n, inner, [&](int64_t o, int64_t i0, int64_t b) {
    double m[kColumnBlock], s[kColumnBlock];
    const int64_t base = o * n * inner + i0;
    softmax_cols(log, n, inner, b, x + base, y + base, m, s);
  });
}

template <typename T>
void softmax_backward_typed(bool log, int64_t outer, int64_t n, int64_t inner, const T* g, const T* y, T* dx) {
  // inner == 1 is the block path with one column: the sums run over a contiguous row.
  for_each_block(outer, n, inner, [&](int64_t o, int64_t i0, int64_t b) {
    double s[kColumnBlock];
    const int64_t base = o * n * inner + i0;
    softmax_backward_cols(log, n, inner, b, g + base, y + base, dx + base, s);
  });
}

// lse_i = log sum_c exp logits[i, c], in double.
template <typename T>
double row_lse(int64_t C, const T* x) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t c = 0; c < C; ++c) m = std::max(m, static_cast<double>(x[c]));
  double s = 0.0;
  for (int64_t c = 0; c < C; ++c) s += exp_t<T>(static_cast<double>(x[c]) - m);
  return m + std::log(s);
}

// Sums per-row values in a fixed order, so the loss does not depend on the thread count.
double mean_of(const std::vector<double>& v) {
  double acc = 0.0;
  for (double x : v) acc += x;
  return acc / static_cast<double>(v.size());
}

template <typename T>
void cross_entropy_typed(int64_t N, int64_t C, const T* x, const int64_t* labels, T* loss, double* lse) {
  std::vector<double> per_row(static_cast<size_t>(N));
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1));
  parallel_for(N, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      lse[i] = row_lse(C, x + i * C);
      per_row[i] = lse[i] - static_cast<double>(x[i * C + labels[i]]);
    }
  });
  *loss = static_cast<T>(mean_of(per_row));
}

template <typename T>
void cross_entropy_backward_typed(int64_t N, int64_t C, const T* g, const T* x, const int64_t* labels,
                                  const double* lse, T* dx) {
  const double scale = static_cast<double>(*g) / static_cast<double>(N);
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1));
  parallel_for(N, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const T* xr = x + i * C;
      T* dr = dx + i * C;
      for (int64_t c = 0; c < C; ++c) dr[c] = static_cast<T>(scale * exp_t<T>(static_cast<double>(xr[c]) - lse[i]));
      dr[labels[i]] = static_cast<T>(scale * (exp_t<T>(static_cast<double>(xr[labels[i]]) - lse[i]) - 1.0));
    }
  });
}

template <typename T>
void cross_entropy_soft_typed(int64_t N, int64_t C, const T* x, const T* t, T* loss, double* lse) {
  std::vector<double> per_row(static_cast<size_t>(N));
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1));
  parallel_for(N, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const T* xr = x + i * C;
      const T* tr = t + i * C;
      lse[i] = row_lse(C, xr);
      double acc = 0.0;
      for (int64_t c = 0; c < C; ++c) acc += static_cast<double>(tr[c]) * (lse[i] - static_cast<double>(xr[c]));
      per_row[i] = acc;
    }
  });
  *loss = static_cast<T>(mean_of(per_row));
}

template <typename T>
void cross_entropy_soft_backward_typed(int64_t N, int64_t C, const T* g, const T* x, const T* t, const double* lse,
                                       T* dx, T* dt) {
  const double scale = static_cast<double>(*g) / static_cast<double>(N);
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1));
  parallel_for(N, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const T* xr = x + i * C;
      const T* tr = t + i * C;
      if (dx) {
        double st = 0.0;
        for (int64_t c = 0; c < C; ++c) st += static_cast<double>(tr[c]);
        T* dr = dx + i * C;
        for (int64_t c = 0; c < C; ++c)
          dr[c] =
              static_cast<T>(scale * (exp_t<T>(static_cast<double>(xr[c]) - lse[i]) * st - static_cast<double>(tr[c])));
      }
      if (dt) {
        T* dr = dt + i * C;
        for (int64_t c = 0; c < C; ++c) dr[c] = static_cast<T>(-scale * (static_cast<double>(xr[c]) - lse[i]));
      }
    }
  });
}

}  // namespace

void softmax(DType dtype, bool log, int64_t outer, int64_t n, int64_t inner, const void* x, void* y) {
  RESA_DISPATCH_FLOAT(dtype, "softmax", [&] {
    softmax_typed<scalar_t>(log, outer, n, inner, static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y));
  });
}

void softmax_backward(DType dtype, bool log, int64_t outer, int64_t n, int64_t inner, const void* g, const void* y,
                      void* dx) {
  RESA_DISPATCH_FLOAT(dtype, "softmax_backward", [&] {
    softmax_backward_typed<scalar_t>(log, outer, n, inner, static_cast<const scalar_t*>(g),
                                     static_cast<const scalar_t*>(y), static_cast<scalar_t*>(dx));
  });
}

void cross_entropy(DType dtype, int64_t N, int64_t C, const void* logits, const int64_t* labels, void* loss,
                   void* lse) {
  RESA_DISPATCH_FLOAT(dtype, "cross_entropy", [&] {
    cross_entropy_typed<scalar_t>(N, C, static_cast<const scalar_t*>(logits), labels, static_cast<scalar_t*>(loss),
                                  static_cast<double*>(lse));
  });
}

void cross_entropy_backward(DType dtype, int64_t N, int64_t C, const void* g, const void* logits, const int64_t* labels,
                            const void* lse, void* dlogits) {
  RESA_DISPATCH_FLOAT(dtype, "cross_entropy_backward", [&] {
    cross_entropy_backward_typed<scalar_t>(N, C, static_cast<const scalar_t*>(g), static_cast<const scalar_t*>(logits),
                                           labels, static_cast<const double*>(lse), static_cast<scalar_t*>(dlogits));
  });
}

void cross_entropy_soft(DType dtype, int64_t N, int64_t C, const void* logits, const void* target, void* loss,
                        void* lse) {
  RESA_DISPATCH_FLOAT(dtype, "cross_entropy_soft", [&] {
    cross_entropy_soft_typed<scalar_t>(N, C, static_cast<const scalar_t*>(logits), static_cast<const scalar_t*>(target),
                                       static_cast<scalar_t*>(loss), static_cast<double*>(lse));
  });
}

void cross_entropy_soft_backward(DType dtype, int64_t N, int64_t C, const void* g, const void* logits,
                                 const void* target, const void* lse, void* dlogits, void* dtarget) {
  RESA_DISPATCH_FLOAT(dtype, "cross_entropy_soft_backward", [&] {
    cross_entropy_soft_backward_typed<scalar_t>(N, C, static_cast<const scalar_t*>(g),
                                                static_cast<const scalar_t*>(logits),
                                                static_cast<const scalar_t*>(target), static_cast<const double*>(lse),
                                                static_cast<scalar_t*>(dlogits), static_cast<scalar_t*>(dtarget));
  });
}

}  // namespace resa::cpu
