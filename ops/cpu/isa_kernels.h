// The bodies of the CPU's hot loops (ops/cpu/isa.h), written once and compiled once per instruction set:
// isa_kernels.cpp, isa_kernels_avx2.cpp and isa_kernels_avx512.cpp each define RESA_ISA_NS (the
// namespace that keeps their copies apart) and include this file. Internal to those three files.
//
// Only plain loops, memcpy/memset, the host allocator (through HostBuffer) and inline arithmetic here:
// a std:: algorithm instantiated in an AVX-512 file is a weak symbol that the linker could pick for the
// baseline callers too.
#pragma once
#ifndef RESA_ISA_NS
#error "define RESA_ISA_NS (baseline, avx2, avx512) before including isa_kernels.h"
#endif
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "resa/core/storage.h"
#include "resa/ops/cpu/isa.h"

namespace resa::cpu::RESA_ISA_NS {
namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Before a loop over t whose body reads and writes several rows at index t only: the rows are distinct
// arrays or the same one (in place), never overlapping at another index, so the loop may be vectorised.
// Without it the compiler, unable to prove that six output rows do not overlap six input rows, runs the
// Winograd transforms one float at a time (perf: about 10% of a ResNet-18 step as scalar code).
#if defined(__clang__)
#define RESA_INDEPENDENT_ROWS _Pragma("clang loop vectorize(assume_safety)")
#else
#define RESA_INDEPENDENT_ROWS _Pragma("GCC ivdep")
#endif

template <typename T>
void fill_zero(T* p, int64_t n) {
  if (n > 0) std::memset(p, 0, static_cast<size_t>(n) * sizeof(T));
}

// n elements from the caching host allocator (a fresh block of a size used again and again would be
// mapped and zeroed by the kernel every time), released at the end of the scope. Its own copy here,
// not ops/cpu/scratch.h's: inline members of a shared class compiled with AVX-512 flags could be the
// copy the linker keeps for the baseline callers.
template <typename T>
class HostBuffer {
 public:
  explicit HostBuffer(int64_t n)
      : bytes_(static_cast<size_t>(n) * sizeof(T)), data_(static_cast<T*>(cpu_allocator()->allocate(bytes_, 0))) {}
  ~HostBuffer() { cpu_allocator()->deallocate(data_, bytes_, 0); }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  T* data() const { return data_; }

 private:
  size_t bytes_;
  T* data_;
};

// ---- batch norm ----

// Channel sums. The values are added in their own type into kLanes independent lanes (so that enough
// additions are in flight for the loop to run at memory speed; one accumulator chain runs at one add per
// add-latency), and the lanes are flushed into a double every kBlock values (so that a lane holds at most
// about 2 * kBlock / kLanes terms and the float rounding stays that of a short sum). The lanes carry on
// from one row to the next: a channel of 7x7 planes flushes once per 20 rows, not once per row. The
// lane count is fixed, not the vector width: every ISA adds the same numbers in the same order.
//
// S sums run in lockstep (the batch-norm loops below take kGroup channels at a time): sum s gets f(s, j)
// for j in [0, l) per add(), in exactly the order one sum alone would, so grouping changes no bit of any
// sum. It gives the CPU S independent add chains where one channel alone waits on each add's latency
// (16 lanes are one AVX-512 vector: one chain), and it reads the group's rows of one image, which lie
// side by side in memory, together instead of one short row per image plane apart.
constexpr int64_t kLanes = 16, kBlock = 1024;

// The widest vector of T this file's ISA holds in one register (GCC/clang vector extensions); kLanes
// lanes are kLanes / NativeVec<T>::size of them, added lane by lane: every ISA's loop is the same adds in
// the same order.
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX2__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif
template <typename T>
struct NativeVec {
  using type [[gnu::vector_size(kVecBytes)]] = T;
  static constexpr int64_t size = kVecBytes / static_cast<int64_t>(sizeof(T));
};

// A vector of U from p (any alignment), or one value: f(s, j, U{}) below loads either.
template <typename U, typename T>
inline U load_as(const T* p) {
  U v;
  std::memcpy(&v, p, sizeof(U));
  return v;
}

template <typename T, int S>
struct LaneSums {
  using V = typename NativeVec<T>::type;
  static constexpr int64_t kWidth = NativeVec<T>::size, kRegs = kLanes / kWidth;
  static_assert(kLanes % kWidth == 0);
  alignas(64) T acc[S][kLanes] = {};
  int64_t pending = 0;  // values added to each sum since the last flush
  double total[S] = {};

  // Adds f(s, j) for j in [0, l) to sum s, for every s. f(s, j, U{}) gives the vector of values from j
  // on when U is NativeVec<T>::type, the one value at j when U is T.
  template <typename F>
  void add(int64_t l, F&& f) {
    for (int64_t j0 = 0; j0 < l; j0 += kBlock) {
      const int64_t j1 = min64(l, j0 + kBlock);
      int64_t j = j0;
      if (j + kLanes <= j1) {
        V a[S][kRegs];
        for (int s = 0; s < S; ++s)
          for (int64_t r = 0; r < kRegs; ++r) a[s][r] = load_as<V>(acc[s] + r * kWidth);
        for (; j + kLanes <= j1; j += kLanes)
          for (int s = 0; s < S; ++s)
            for (int64_t r = 0; r < kRegs; ++r) a[s][r] += f(s, j + r * kWidth, V{});
        for (int s = 0; s < S; ++s)
          for (int64_t r = 0; r < kRegs; ++r) std::memcpy(acc[s] + r * kWidth, &a[s][r], sizeof(V));
      }
      for (int64_t t = 0; j + t < j1; ++t)  // the rest into the first lanes
        for (int s = 0; s < S; ++s) acc[s][t] += f(s, j + t, T{});
      pending += j1 - j0;
      if (pending >= kBlock) flush();
    }
  }
  void flush() {
    for (int s = 0; s < S; ++s) {
      double block = 0;
      for (int64_t t = 0; t < kLanes; ++t) {
        block += acc[s][t];
        acc[s][t] = T(0);
      }
      total[s] += block;
    }
    pending = 0;
  }
};

// Channels per group in the batch-norm loops.
constexpr int kGroup = 4;

// Calls f(std::integral_constant<int, B>{}, ch) for the groups of channels [c0, c1): B = kGroup when
// `group` (the last channels one at a time), else B = 1.
template <typename F>
void for_channel_groups(int64_t c0, int64_t c1, bool group, F&& f) {
  int64_t ch = c0;
  if (group)
    for (; ch + kGroup <= c1; ch += kGroup) f(std::integral_constant<int, kGroup>{}, ch);
  for (; ch < c1; ++ch) f(std::integral_constant<int, 1>{}, ch);
}

// y = (x - mean) * invstd * weight + bias for channel ch, as one scale and shift.
template <typename T>
void scale_shift(const T* weight, const T* bias, int64_t ch, double mean, double invstd, T& scale, T& shift) {
  const double w = weight ? static_cast<double>(weight[ch]) : 1.0;
  scale = static_cast<T>(invstd * w);
  shift = static_cast<T>((bias ? static_cast<double>(bias[ch]) : 0.0) - mean * invstd * w);
}

// One row: y = x * scale + shift; then max(y, 0) when relu.
template <typename T>
void normalize_row(const T* xr, T* yr, int64_t l, T scale, T shift, bool relu) {
  if (relu) {
    for (int64_t j = 0; j < l; ++j) {
      const T v = xr[j] * scale + shift;
      yr[j] = v > T(0) ? v : T(0);
    }
  } else {
    for (int64_t j = 0; j < l; ++j) yr[j] = xr[j] * scale + shift;
  }
}

// Channels [ch, ch + B) of x into y with their means and invstds, image by image.
template <typename T, int B>
void normalize_group(int64_t n, int64_t c, int64_t l, int64_t ch, const T* x, const T* weight, const T* bias,
                     const double* mean, const double* invstd, bool relu, T* y) {
  T scale[B], shift[B];
  for (int b = 0; b < B; ++b) scale_shift(weight, bias, ch + b, mean[b], invstd[b], scale[b], shift[b]);
  for (int64_t i = 0; i < n; ++i)
    for (int b = 0; b < B; ++b) {
      const int64_t off = (i * c + ch + b) * l;
      normalize_row(x + off, y + off, l, scale[b], shift[b], relu);
    }
}

template <typename T, int B>
void bn_train_group(int64_t n, int64_t c, int64_t l, int64_t ch, const T* x, const T* weight, const T* bias, double eps,
                    double momentum, bool relu, T* y, T* mean, T* invstd, T* running_mean, T* running_var) {
  const double m = static_cast<double>(n * l);
  // Two passes (mean, then squared deviations) so the variance does not cancel. Image i's rows of the
  // group: xi + b * l.
  LaneSums<T, B> s;
  for (int64_t i = 0; i < n; ++i) {
    const T* xi = x + (i * c + ch) * l;
    s.add(l, [xi, l](int b, int64_t j, auto u) { return load_as<decltype(u)>(xi + b * l + j); });
  }
  s.flush();
  double mu[B], is[B];
  T mt[B];
  for (int b = 0; b < B; ++b) {
    mu[b] = s.total[b] / m;
    mt[b] = static_cast<T>(mu[b]);
  }
  LaneSums<T, B> sq;
  for (int64_t i = 0; i < n; ++i) {
    const T* xi = x + (i * c + ch) * l;
    sq.add(l, [xi, l, &mt](int b, int64_t j, auto u) {
      const auto d = load_as<decltype(u)>(xi + b * l + j) - mt[b];
      return d * d;
    });
  }
  sq.flush();
  for (int b = 0; b < B; ++b) {
    const int64_t k = ch + b;
    const double ss = sq.total[b];
    is[b] = 1.0 / std::sqrt(ss / m + eps);
    mean[k] = static_cast<T>(mu[b]);
    invstd[k] = static_cast<T>(is[b]);
    if (running_mean) running_mean[k] = static_cast<T>((1 - momentum) * running_mean[k] + momentum * mu[b]);
    if (running_var) running_var[k] = static_cast<T>((1 - momentum) * running_var[k] + momentum * ss / (m - 1));
  }
  normalize_group<T, B>(n, c, l, ch, x, weight, bias, mu, is, relu, y);
}

template <typename T>
void bn_train(int64_t n, int64_t c, int64_t l, int64_t c0, int64_t c1, const T* x, const T* weight, const T* bias,
              double eps, double momentum, bool relu, T* y, T* mean, T* invstd, T* running_mean, T* running_var) {
  // The second and third passes find a lone channel's values in the core's L2 cache, a group's only
  // while four channels' values fit in 1 MB: 256 images of 28x28 (800 KB a channel) measured 10-20%
  // faster one channel at a time on the Xeon (AVX-512 and AVX2 loops alike), 14x14 and smaller planes
  // 1.1-1.8x faster in groups.
  const bool group = kGroup * n * l * static_cast<int64_t>(sizeof(T)) <= (int64_t{1} << 20);
  for_channel_groups(c0, c1, group, [&](auto size, int64_t ch) {
    bn_train_group<T, decltype(size)::value>(n, c, l, ch, x, weight, bias, eps, momentum, relu, y, mean, invstd,
                                             running_mean, running_var);
  });
}

template <typename T>
void bn_eval(int64_t n, int64_t c, int64_t l, int64_t c0, int64_t c1, const T* x, const T* weight, const T* bias,
             const T* running_mean, const T* running_var, double eps, bool relu, T* y, T* mean, T* invstd) {
  for (int64_t ch = c0; ch < c1; ++ch) {
    const double mu = running_mean[ch];
    const double is = 1.0 / std::sqrt(static_cast<double>(running_var[ch]) + eps);
    mean[ch] = static_cast<T>(mu);
    invstd[ch] = static_cast<T>(is);
    normalize_group<T, 1>(n, c, l, ch, x, weight, bias, &mu, &is, relu, y);
  }
}

// The backward of channels [ch, ch + B). relu_out (or null): the gradient reaching the batch norm is dy
// where relu_out > 0 and 0 elsewhere; that masked row is written once, into dx (or into `masked`, B * l
// values, when there is no dx), and read from there by both passes. (Computing the select inside the lane
// sums gave wrong float64 sums in the AVX2 and AVX-512 builds.)
template <typename T, int B>
void bn_backward_group(int64_t n, int64_t c, int64_t l, int64_t ch, const T* dy, const T* x, const T* weight,
                       const T* mean, const T* invstd, bool training, const T* relu_out, T* dx, T* dweight, T* dbias,
                       T* masked) {
  const double m = static_cast<double>(n * l);
  T mt[B];
  for (int b = 0; b < B; ++b) mt[b] = mean[ch + b];
  // Image i's gradient rows of the group, B * l values side by side.
  auto grad_rows = [&](int64_t i) {
    const int64_t off = (i * c + ch) * l;
    if (!relu_out) return dy + off;
    T* dst = dx ? dx + off : masked;
    const T* dyi = dy + off;
    const T* yi = relu_out + off;
    for (int64_t j = 0; j < B * l; ++j) dst[j] = yi[j] > T(0) ? dyi[j] : T(0);
    return static_cast<const T*>(dst);
  };
  // Sums 0 .. B-1: sum(dy) of each channel; B .. 2B-1: sum(dy * (x - mean)), times invstd below.
  LaneSums<T, 2 * B> sums;
  for (int64_t i = 0; i < n; ++i) {
    const T* gi = grad_rows(i);
    const T* xi = x + (i * c + ch) * l;
    sums.add(l, [gi, xi, l, &mt](int s, int64_t j, auto u) {
      using U = decltype(u);
      const int b = s % B;
      const U g = load_as<U>(gi + b * l + j);
      return s < B ? g : g * (load_as<U>(xi + b * l + j) - mt[b]);
    });
  }
  sums.flush();
  T kt[B], a[B], bt[B];
  for (int b = 0; b < B; ++b) {
    const int64_t k = ch + b;
    const double is = invstd[k];
    const double sdy = sums.total[b], sdyx = sums.total[B + b] * is;
    if (dbias) dbias[k] = static_cast<T>(sdy);
    if (dweight) dweight[k] = static_cast<T>(sdyx);
    // training: dx = w * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)); eval: dx = w * invstd * dy.
    // As dx = k * dy + (x - mean) * a + b, in T: one multiply-add chain per element, vectorised.
    const double w = weight ? static_cast<double>(weight[k]) : 1.0;
    const double kk = w * is;
    const double mdy = training ? sdy / m : 0.0, mdyx = training ? sdyx / m : 0.0;
    kt[b] = static_cast<T>(kk);
    a[b] = static_cast<T>(-kk * is * mdyx);
    bt[b] = static_cast<T>(-kk * mdy);
  }
  if (!dx) return;
  for (int64_t i = 0; i < n; ++i)
    for (int b = 0; b < B; ++b) {
      const int64_t off = (i * c + ch + b) * l;
      const T* gr = relu_out ? dx + off : dy + off;  // with relu_out, dx holds the masked gradient
      const T* xr = x + off;
      T* dxr = dx + off;
      const T kb = kt[b], ab = a[b], bb = bt[b], mb = mt[b];
      for (int64_t j = 0; j < l; ++j) dxr[j] = kb * gr[j] + (xr[j] - mb) * ab + bb;
    }
}

// relu_out (batch norm + ReLU fused: its output): dy is masked with it, as a separate ReLU's backward
// would pass it on (bn_backward_group).
template <typename T>
void bn_backward(int64_t n, int64_t c, int64_t l, int64_t c0, int64_t c1, const T* dy, const T* x, const T* weight,
                 const T* mean, const T* invstd, bool training, const T* relu_out, T* dx, T* dweight, T* dbias) {
  HostBuffer<T> masked(relu_out && !dx ? kGroup * l : 0);
  for_channel_groups(c0, c1, true, [&](auto size, int64_t ch) {
    bn_backward_group<T, decltype(size)::value>(n, c, l, ch, dy, x, weight, mean, invstd, training, relu_out, dx,
                                                dweight, dbias, masked.data());
  });
}

// ---- im2col / col2im ----

// Range [q0, q1) of output columns whose input column q * stride + off lies inside [0, w).
inline void valid_range(int64_t off, int64_t stride, int64_t w, int64_t q, int64_t& q0, int64_t& q1) {
  q0 = off >= 0 ? 0 : (-off + stride - 1) / stride;
  q1 = w - off <= 0 ? 0 : (w - off + stride - 1) / stride;
  q0 = min64(q0, q);
  q1 = clamp64(q1, q0, q);
}

template <typename T>
void im2col(const ConvShape& g, const T* x, T* col, int64_t ld) {
  for (int64_t c = 0; c < g.c; ++c) {
    const T* xc = x + c * g.h * g.w;
    for (int64_t r = 0; r < g.r; ++r) {
      for (int64_t s = 0; s < g.s; ++s) {
        T* row = col + ((c * g.r + r) * g.s + s) * ld;
        const int64_t woff = s * g.dil_w - g.pad_w;
        int64_t q0, q1;
        valid_range(woff, g.stride_w, g.w, g.q, q0, q1);
        for (int64_t p = 0; p < g.p; ++p) {
          T* out = row + p * g.q;
          const int64_t ih = p * g.stride_h - g.pad_h + r * g.dil_h;
          if (ih < 0 || ih >= g.h) {
            fill_zero(out, g.q);
            continue;
          }
          const T* xr = xc + ih * g.w + woff;
          for (int64_t qq = 0; qq < q0; ++qq) out[qq] = T(0);
          if (g.stride_w == 1) {
            if (q1 > q0) std::memcpy(out + q0, xr + q0, static_cast<size_t>(q1 - q0) * sizeof(T));
          } else {
            for (int64_t qq = q0; qq < q1; ++qq) out[qq] = xr[qq * g.stride_w];
          }
          for (int64_t qq = q1; qq < g.q; ++qq) out[qq] = T(0);
        }
      }
    }
  }
}

// row[t] = plane[offset[t]], or 0 where offset[t] < 0. The compiler leaves this loop scalar, so the
// float version uses the masked gathers of AVX-512 and AVX2 where this file is compiled for them (the
// masked lanes take 0, the same bits as the scalar select).
template <typename T>
void gather_row_scalar(const T* plane, const int32_t* offset, int64_t n, T* row) {
  for (int64_t t = 0; t < n; ++t) {
    const int32_t at = offset[t];
    const T v = plane[at >= 0 ? at : 0];  // a load from inside the plane either way, then the select
    row[t] = at >= 0 ? v : T(0);
  }
}
template <typename T>
void gather_row(const T* plane, const int32_t* offset, int64_t n, T* row) {
  gather_row_scalar(plane, offset, n, row);
}
#if defined(__AVX512F__)
template <>
inline void gather_row<float>(const float* plane, const int32_t* offset, int64_t n, float* row) {
  int64_t t = 0;
  for (; t + 16 <= n; t += 16) {
    const __m512i at = _mm512_loadu_si512(offset + t);
    const __mmask16 inside = _mm512_cmpge_epi32_mask(at, _mm512_setzero_si512());
    _mm512_storeu_ps(row + t, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), inside, at, plane, 4));
  }
  gather_row_scalar(plane, offset + t, n - t, row + t);
}
#elif defined(__AVX2__)
template <>
inline void gather_row<float>(const float* plane, const int32_t* offset, int64_t n, float* row) {
  int64_t t = 0;
  for (; t + 8 <= n; t += 8) {
    const __m256i at = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(offset + t));
    const __m256 inside = _mm256_castsi256_ps(_mm256_cmpgt_epi32(at, _mm256_set1_epi32(-1)));
    _mm256_storeu_ps(row + t, _mm256_mask_i32gather_ps(_mm256_setzero_ps(), plane, at, inside, 4));
  }
  gather_row_scalar(plane, offset + t, n - t, row + t);
}
#endif

// The offsets of a convolution's column matrix: entry (r * S + s) * P * Q + p * Q + q is the plane
// offset that column-matrix entry (r, s, p, q) reads, or -1 where it falls in the padding.
class OffsetTable {
 public:
  explicit OffsetTable(const ConvShape& g) : pq_(g.p * g.q), table_(g.r * g.s * pq_) {
    for (int64_t r = 0; r < g.r; ++r)
      for (int64_t s = 0; s < g.s; ++s) {
        int32_t* o = table_.data() + (r * g.s + s) * pq_;
        for (int64_t p = 0; p < g.p; ++p) {
          const int64_t ih = p * g.stride_h - g.pad_h + r * g.dil_h;
          for (int64_t q = 0; q < g.q; ++q) {
            const int64_t iw = q * g.stride_w - g.pad_w + s * g.dil_w;
            const bool inside = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
            o[p * g.q + q] = inside ? static_cast<int32_t>(ih * g.w + iw) : -1;
          }
        }
      }
  }
  // The P * Q offsets of kernel position k = r * S + s.
  const int32_t* row(int64_t k) const { return table_.data() + k * pq_; }

 private:
  int64_t pq_;
  HostBuffer<int32_t> table_;
};

// plane[offset[t]] += row[t] where offset[t] >= 0. Within one (r, s) row of the table no two entries
// share an offset (a stride of at least 1 maps (p, q) one to one), so the AVX-512 float version can
// gather, add and scatter 16 at a time; every plane element receives the same additions in the same
// order as in the scalar loop.
template <typename T>
void scatter_add_row_scalar(const T* row, const int32_t* offset, int64_t n, T* plane) {
  for (int64_t t = 0; t < n; ++t)
    if (offset[t] >= 0) plane[offset[t]] += row[t];
}
template <typename T>
void scatter_add_row(const T* row, const int32_t* offset, int64_t n, T* plane) {
  scatter_add_row_scalar(row, offset, n, plane);
}
#if defined(__AVX512F__)
template <>
inline void scatter_add_row<float>(const float* row, const int32_t* offset, int64_t n, float* plane) {
  int64_t t = 0;
  for (; t + 16 <= n; t += 16) {
    const __m512i at = _mm512_loadu_si512(offset + t);
    const __mmask16 inside = _mm512_cmpge_epi32_mask(at, _mm512_setzero_si512());
    const __m512 old = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), inside, at, plane, 4);
    _mm512_mask_i32scatter_ps(plane, inside, at, _mm512_add_ps(old, _mm512_loadu_ps(row + t)), 4);
  }
  scatter_add_row_scalar(row + t, offset + t, n - t, plane);
}
#endif

// col2im through the offset table: one scatter-add loop per (c, r, s) row (for strided convolutions,
// where col2im goes row by row over rows of a few elements).
template <typename T>
void col2im_scatter(const ConvShape& g, const T* col, T* dx, int64_t ld) {
  const int64_t pq = g.p * g.q, rs = g.r * g.s, hw = g.h * g.w;
  const OffsetTable table(g);
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t k = 0; k < rs; ++k) scatter_add_row(col + (c * rs + k) * ld, table.row(k), pq, dx + c * hw);
}

#if defined(__AVX2__)
// Eight values of a row of w values as if padded with zeros on both sides: v[l] = row[base + l] where
// 0 <= base + l < w, else 0 (base may be negative). One whole load where the block lies inside the row,
// zeros where it lies outside, else a masked load (which touches no masked-off address). Column indices
// are compared in 32-bit lanes: a row is far shorter than 2^31 values.
inline __m256 load8_zero_padded(const float* row, int64_t base, int64_t w) {
  if (base >= 0 && base + 8 <= w) return _mm256_loadu_ps(row + base);
  if (base + 8 <= 0 || base >= w) return _mm256_setzero_ps();
  // Lane l is read where -1 < base + l < w. The address is computed in integers (base may be negative:
  // no pointer arithmetic before the row).
  const __m256i idx =
      _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(base)));
  const __m256i mask = _mm256_and_si256(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(-1)),
                                        _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(w)), idx));
  const uintptr_t addr = reinterpret_cast<uintptr_t>(row) + static_cast<uintptr_t>(base * 4);
  return _mm256_maskload_ps(reinterpret_cast<const float*>(addr), mask);
}

// The first n (0 < n < 8) values of v to dst, nothing past them: 4-, 2- and 1-value stores (a masked
// store, vmaskmovps, measured several times slower on the Zen 3 in the rows that end this way).
inline void store_first(float* dst, __m256 v, int64_t n) {
  __m128 part = _mm256_castps256_ps128(v);
  if (n >= 4) {
    _mm_storeu_ps(dst, part);
    part = _mm256_extractf128_ps(v, 1);
    dst += 4, n -= 4;
  }
  if (n >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(dst), part);
    part = _mm_movehl_ps(part, part);
    dst += 2, n -= 2;
  }
  if (n >= 1) _mm_store_ss(dst, part);
}

// Stride 2 across (any stride down, no dilation across), float: each output row's Q columns read every
// other input column, so eight of them come from 16 consecutive values, two (zero-padded) loads and a
// shuffle that keeps the even lanes; the row's last block is stored in part (nothing past Q is written).
// The same values as the gather below, which picks one value per lane (vgatherdps, several cycles per
// vector on the CPUs measured).
inline void im2col_stride2(const ConvShape& g, const float* x, float* col, int64_t ld) {
  const int64_t hw = g.h * g.w;
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t r = 0; r < g.r; ++r)
      for (int64_t s = 0; s < g.s; ++s) {
        float* row = col + ((c * g.r + r) * g.s + s) * ld;
        const int64_t woff = s * g.dil_w - g.pad_w;  // output column q reads input column 2 q + woff
        for (int64_t p = 0; p < g.p; ++p) {
          float* dst = row + p * g.q;
          const int64_t ih = p * g.stride_h - g.pad_h + r * g.dil_h;
          if (ih < 0 || ih >= g.h) {
            std::memset(dst, 0, static_cast<size_t>(g.q) * sizeof(float));
            continue;
          }
          const float* in = x + c * hw + ih * g.w;
          for (int64_t q0 = 0; q0 < g.q; q0 += 8) {
            const int64_t base = 2 * q0 + woff;
            const __m256 a = load8_zero_padded(in, base, g.w), b = load8_zero_padded(in, base + 8, g.w);
            // [a0 a2 b0 b2 | a4 a6 b4 b6], then the 64-bit pairs in order 0, 2, 1, 3
            const __m256 even =
                _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
            if (q0 + 8 <= g.q)
              _mm256_storeu_ps(dst + q0, even);
            else
              store_first(dst + q0, even, g.q - q0);
          }
        }
      }
}
// Output rows at least this wide take im2col_stride2. Measured on the Zen 3 against the gather (bench_conv
// --layer, forward): 16 columns 0.87 (64x32x32 at stride 2), 8 columns 0.95, 14 columns level (28x28 at
// stride 2; the 1x1 there 0.87), but 7 columns 1.17 and 4 columns 1.25, where the gather fills a vector
// from two or more output rows at once. The Xeon agrees (AVX-512 gathers, 2026-12-06): rows of 7 and 4 by
// row loads measured 1.17-1.22x the gather's forward time (64x14x14-128 and 128x7x7-256 at stride 2).
constexpr int64_t kStride2MinQ = 8;
#endif

// Any stride, padding and dilation, as a gather: the plane offset that column-matrix entry (r, s, p, q)
// reads (or -1 for padding) depends on r, s, p, q only, so it is tabled once per image and every
// channel's R * S rows are one gather loop each over P * Q entries. Row by row (im2col above) costs a
// range computation and three short loops per output row: most of the work for strided layers with
// small planes (a 7x7 plane at stride 2 gives rows of 4).
template <typename T>
void im2col_gather(const ConvShape& g, const T* x, T* col, int64_t ld) {
#if defined(__AVX2__)
  if constexpr (std::is_same_v<T, float>)
    if (g.stride_w == 2 && g.dil_w == 1 && g.q >= kStride2MinQ) return im2col_stride2(g, x, col, ld);
#endif
  const int64_t pq = g.p * g.q, rs = g.r * g.s, hw = g.h * g.w;
  const OffsetTable table(g);
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t k = 0; k < rs; ++k) gather_row(x + c * hw, table.row(k), pq, col + (c * rs + k) * ld);
}

// Stride 1 with output width == input width (a "same" convolution, e.g. 3x3 with padding 1): row
// (c, r, s) of the column matrix is the input plane shifted by one flat offset, so it is one long copy
// plus zeros for the rows above and below the plane and for the columns that wrapped around the plane's
// left or right edge. Rows of 28, 14 or 7 floats cost a call each in im2col; this is one per row of the
// column matrix.
template <typename T>
void im2col_same_width(const ConvShape& g, const T* x, T* col, int64_t ld) {
  const int64_t pq = g.p * g.q;
  for (int64_t c = 0; c < g.c; ++c) {
    const T* xc = x + c * g.h * g.w;
    for (int64_t r = 0; r < g.r; ++r) {
      const int64_t ih0 = r * g.dil_h - g.pad_h;  // output row p reads input row p + ih0
      const int64_t p_lo = clamp64(-ih0, 0, g.p), p_hi = clamp64(g.h - ih0, p_lo, g.p);
      for (int64_t s = 0; s < g.s; ++s) {
        T* row = col + ((c * g.r + r) * g.s + s) * ld;
        const int64_t woff = s * g.dil_w - g.pad_w;  // output column q reads input column q + woff
        int64_t q0, q1;
        valid_range(woff, 1, g.w, g.q, q0, q1);
        // Flat copy of output positions [p_lo * Q, p_hi * Q), trimmed at both ends so it never reads
        // outside the plane (the trimmed positions are border columns, zeroed below).
        const int64_t i0 = p_lo * g.q + max64(0, -woff), i1 = p_hi * g.q - max64(0, woff);
        fill_zero(row, p_lo * g.q);
        if (i1 > i0) std::memcpy(row + i0, xc + i0 + ih0 * g.w + woff, static_cast<size_t>(i1 - i0) * sizeof(T));
        fill_zero(row + p_hi * g.q, pq - p_hi * g.q);
        // Column by column down the plane: a loop along a row of one or two elements would be turned
        // into a memset call per row by the compiler.
        for (int64_t qq = 0; qq < q0; ++qq)
          for (int64_t p = p_lo; p < p_hi; ++p) row[p * g.q + qq] = T(0);
        for (int64_t qq = q1; qq < g.q; ++qq)
          for (int64_t p = p_lo; p < p_hi; ++p) row[p * g.q + qq] = T(0);
      }
    }
  }
}

template <typename T>
void col2im(const ConvShape& g, const T* col, T* dx, int64_t ld) {
  for (int64_t c = 0; c < g.c; ++c) {
    T* dxc = dx + c * g.h * g.w;
    for (int64_t r = 0; r < g.r; ++r) {
      for (int64_t s = 0; s < g.s; ++s) {
        const T* row = col + ((c * g.r + r) * g.s + s) * ld;
        const int64_t woff = s * g.dil_w - g.pad_w;
        int64_t q0, q1;
        valid_range(woff, g.stride_w, g.w, g.q, q0, q1);
        for (int64_t p = 0; p < g.p; ++p) {
          const int64_t ih = p * g.stride_h - g.pad_h + r * g.dil_h;
          if (ih < 0 || ih >= g.h) continue;
          const T* in = row + p * g.q;
          T* dr = dxc + ih * g.w + woff;
          if (g.stride_w == 1) {
            for (int64_t qq = q0; qq < q1; ++qq) dr[qq] += in[qq];
          } else {
            for (int64_t qq = q0; qq < q1; ++qq) dr[qq * g.stride_w] += in[qq];
          }
        }
      }
    }
  }
}

// ---- Winograd F(2x2, 3x3) transforms (ops/cpu/conv_winograd.h) ----

// Filters go through in blocks of kWinogradBlock: each block's 16 transformed values per filter are
// gathered in a local buffer and written as 16 contiguous runs. Writing them filter by filter scatters
// every filter's 16 values K * C elements apart, 16 pages touched per filter.
constexpr int64_t kWinogradBlock = 64;

template <typename T>
void winograd_weight(const ConvShape& g, const T* w, T* u, int64_t i0, int64_t i1) {
  const int64_t kc = g.k * g.c;
  T out[16][kWinogradBlock];
  for (int64_t b0 = i0; b0 < i1; b0 += kWinogradBlock) {
    const int64_t nb = min64(kWinogradBlock, i1 - b0);
    for (int64_t bi = 0; bi < nb; ++bi) {  // filter i = b0 + bi = k * C + c, the (k, c) entry of each U[e]
      const T* f = w + (b0 + bi) * 9;      // f[3 * row + col]
      T t[4][3];                           // G f: rows f0, (f0 + f1 + f2) / 2, (f0 - f1 + f2) / 2, f2
      for (int col = 0; col < 3; ++col) {
        const T f0 = f[col], f1 = f[3 + col], f2 = f[6 + col];
        t[0][col] = f0;
        t[1][col] = T(0.5) * (f0 + f1 + f2);
        t[2][col] = T(0.5) * (f0 - f1 + f2);
        t[3][col] = f2;
      }
      for (int row = 0; row < 4; ++row) {  // (G f) G^T, the same on the columns
        const T t0 = t[row][0], t1 = t[row][1], t2 = t[row][2];
        out[row * 4 + 0][bi] = t0;
        out[row * 4 + 1][bi] = T(0.5) * (t0 + t1 + t2);
        out[row * 4 + 2][bi] = T(0.5) * (t0 - t1 + t2);
        out[row * 4 + 3][bi] = t2;
      }
    }
    for (int e = 0; e < 16; ++e) std::memcpy(u + e * kc + b0, out[e], static_cast<size_t>(nb) * sizeof(T));
  }
}

// V[e][c][ti * TQ + tj] = (B^T d B)[e] for every tile of one input plane (H, W); ld = C * T is the
// distance between the 16 matrices. First d B for every input row of the padded plane (each row is
// shared by two rows of tiles), then B^T down the columns. Every inner loop runs over the tiles of a
// row with unit stride, so the compiler vectorises it: the row is split into its even and odd columns
// first, which turns the stride-2 tile pattern into plain shifts.
template <typename T>
void winograd_input(const ConvShape& g, const T* plane, int64_t tp, int64_t tq, T* v, int64_t ld, T* buf) {
  const int64_t rows = 2 * tp + 2;  // padded input rows the tiles read, from row -pad_h
  T* even = buf;                    // even[j] = x[h][2j - pad_w], j = 0..tq (zero outside the plane)
  T* odd = even + (tq + 1);         // odd[j] = x[h][2j + 1 - pad_w]
  T* dB = odd + (tq + 1);           // dB[(4 * hr + nu) * tq + tj]: padded row hr times B, column nu
  for (int64_t hr = 0; hr < rows; ++hr) {
    T* o0 = dB + (4 * hr + 0) * tq;
    T* o1 = dB + (4 * hr + 1) * tq;
    T* o2 = dB + (4 * hr + 2) * tq;
    T* o3 = dB + (4 * hr + 3) * tq;
    const int64_t h = hr - g.pad_h;
    if (h < 0 || h >= g.h) {
      for (int64_t tj = 0; tj < tq; ++tj) o0[tj] = o1[tj] = o2[tj] = o3[tj] = T(0);
      continue;
    }
    const T* xr = plane + h * g.w;
    for (int64_t j = 0; j <= tq; ++j) {
      const int64_t w0 = 2 * j - g.pad_w, w1 = w0 + 1;
      even[j] = w0 >= 0 && w0 < g.w ? xr[w0] : T(0);
      odd[j] = w1 >= 0 && w1 < g.w ? xr[w1] : T(0);
    }
    // Tile tj reads columns 2tj .. 2tj + 3 = even[tj], odd[tj], even[tj + 1], odd[tj + 1].
    RESA_INDEPENDENT_ROWS
    for (int64_t tj = 0; tj < tq; ++tj) {
      o0[tj] = even[tj] - even[tj + 1];
      o1[tj] = odd[tj] + even[tj + 1];
      o2[tj] = even[tj + 1] - odd[tj];
      o3[tj] = odd[tj] - odd[tj + 1];
    }
  }
  for (int64_t ti = 0; ti < tp; ++ti) {
    for (int nu = 0; nu < 4; ++nu) {  // B^T (d B) over the tile's rows 2ti .. 2ti + 3
      const T* r0 = dB + (4 * (2 * ti + 0) + nu) * tq;
      const T* r1 = dB + (4 * (2 * ti + 1) + nu) * tq;
      const T* r2 = dB + (4 * (2 * ti + 2) + nu) * tq;
      const T* r3 = dB + (4 * (2 * ti + 3) + nu) * tq;
      T* v0 = v + (0 + nu) * ld + ti * tq;
      T* v1 = v + (4 + nu) * ld + ti * tq;
      T* v2 = v + (8 + nu) * ld + ti * tq;
      T* v3 = v + (12 + nu) * ld + ti * tq;
      RESA_INDEPENDENT_ROWS
      for (int64_t tj = 0; tj < tq; ++tj) {
        v0[tj] = r0[tj] - r2[tj];
        v1[tj] = r1[tj] + r2[tj];
        v2[tj] = r2[tj] - r1[tj];
        v3[tj] = r1[tj] - r3[tj];
      }
    }
  }
}

// One output plane (P, Q) from M[e][k][ti * TQ + tj] (ld = K * T apart): y = A^T m A + bias. A^T down
// the tile's columns first, then across, into even and odd output columns that are interleaved last.
template <typename T>
void winograd_output(const ConvShape& g, const T* m, int64_t ld, int64_t tp, int64_t tq, T bias, T* plane, T* buf) {
  T* s = buf;          // s[(4 * row + nu) * tq + tj]: (A^T m) row 0 or 1, column nu
  T* ye = s + 8 * tq;  // output columns 2tj and 2tj + 1 of one output row
  T* yo = ye + tq;
  for (int64_t ti = 0; ti < tp; ++ti) {
    for (int nu = 0; nu < 4; ++nu) {
      const T* m0 = m + (0 + nu) * ld + ti * tq;
      const T* m1 = m + (4 + nu) * ld + ti * tq;
      const T* m2 = m + (8 + nu) * ld + ti * tq;
      const T* m3 = m + (12 + nu) * ld + ti * tq;
      T* s0 = s + nu * tq;
      T* s1 = s + (4 + nu) * tq;
      for (int64_t tj = 0; tj < tq; ++tj) {
        s0[tj] = m0[tj] + m1[tj] + m2[tj];
        s1[tj] = m1[tj] - m2[tj] - m3[tj];
      }
    }
    for (int row = 0; row < 2; ++row) {
      const int64_t p = 2 * ti + row;
      if (p >= g.p) break;
      const T* a0 = s + (4 * row + 0) * tq;
      const T* a1 = s + (4 * row + 1) * tq;
      const T* a2 = s + (4 * row + 2) * tq;
      const T* a3 = s + (4 * row + 3) * tq;
      for (int64_t tj = 0; tj < tq; ++tj) {
        ye[tj] = a0[tj] + a1[tj] + a2[tj] + bias;
        yo[tj] = a1[tj] - a2[tj] - a3[tj] + bias;
      }
      T* yr = plane + p * g.q;
      const int64_t full = g.q / 2;  // tiles whose two output columns are both inside the plane
      for (int64_t tj = 0; tj < full; ++tj) yr[2 * tj] = ye[tj], yr[2 * tj + 1] = yo[tj];
      if (g.q % 2) yr[2 * full] = ye[full];
    }
  }
}

// ---- Winograd F(4x4, 3x3) transforms (ops/cpu/conv_winograd.h) ----

// U[e] = (G f G^T)[e], e = 6 * row + col, for filters [i0, i1), computed in double and rounded once
// (G's entries 1/6, 1/12, 1/24 have no exact binary form). Written in blocks as winograd_weight does.
template <typename T>
void winograd4_weight(const ConvShape& g, const T* w, T* u, int64_t i0, int64_t i1) {
  const int64_t kc = g.k * g.c;
  T out[36][kWinogradBlock];
  for (int64_t b0 = i0; b0 < i1; b0 += kWinogradBlock) {
    const int64_t nb = min64(kWinogradBlock, i1 - b0);
    for (int64_t bi = 0; bi < nb; ++bi) {
      const T* f = w + (b0 + bi) * 9;
      double t[6][3];  // G f
      for (int col = 0; col < 3; ++col) {
        const double f0 = f[col], f1 = f[3 + col], f2 = f[6 + col];
        t[0][col] = f0 / 4;
        t[1][col] = -(f0 + f1 + f2) / 6;
        t[2][col] = -(f0 - f1 + f2) / 6;
        t[3][col] = f0 / 24 + f1 / 12 + f2 / 6;
        t[4][col] = f0 / 24 - f1 / 12 + f2 / 6;
        t[5][col] = f2;
      }
      for (int row = 0; row < 6; ++row) {  // (G f) G^T
        const double t0 = t[row][0], t1 = t[row][1], t2 = t[row][2];
        out[row * 6 + 0][bi] = static_cast<T>(t0 / 4);
        out[row * 6 + 1][bi] = static_cast<T>(-(t0 + t1 + t2) / 6);
        out[row * 6 + 2][bi] = static_cast<T>(-(t0 - t1 + t2) / 6);
        out[row * 6 + 3][bi] = static_cast<T>(t0 / 24 + t1 / 12 + t2 / 6);
        out[row * 6 + 4][bi] = static_cast<T>(t0 / 24 - t1 / 12 + t2 / 6);
        out[row * 6 + 5][bi] = static_cast<T>(t2);
      }
    }
    for (int e = 0; e < 36; ++e) std::memcpy(u + e * kc + b0, out[e], static_cast<size_t>(nb) * sizeof(T));
  }
}

// (B^T d)[i] for d = (d0, .., d5), where V is T or a vector of T (GCC/clang vector extensions: the same
// operations in the same order, so every version rounds alike).
template <typename T, typename V>
inline void winograd4_bt_values(V d0, V d1, V d2, V d3, V d4, V d5, V* o) {
  o[0] = T(4) * d0 - T(5) * d2 + d4;
  o[1] = d4 + d3 - T(4) * (d1 + d2);
  o[2] = d4 - d3 + T(4) * (d1 - d2);
  o[3] = d4 - d2 + T(2) * (d3 - d1);
  o[4] = d4 - d2 - T(2) * (d3 - d1);
  o[5] = T(4) * d1 - T(5) * d3 + d5;
}

// B^T applied to six rows of n values each: o[i][t] = (B^T d)[i] with d[j] = r[j][t], for every t
// (o may be r: each t is read whole before it is written).
template <typename T>
void winograd4_bt(const T* const* r, T* const* o, int64_t n) {
  const T *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3], *r4 = r[4], *r5 = r[5];
  T *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3], *o4 = o[4], *o5 = o[5];
  RESA_INDEPENDENT_ROWS
  for (int64_t t = 0; t < n; ++t) {
    T b[6];
    winograd4_bt_values<T>(r0[t], r1[t], r2[t], r3[t], r4[t], r5[t], b);
    o0[t] = b[0], o1[t] = b[1], o2[t] = b[2], o3[t] = b[3], o4[t] = b[4], o5[t] = b[5];
  }
}

// A^T applied to six rows of n values each (m[0..5]) into four (o[0..3]).
template <typename T>
void winograd4_at(const T* const* m, T* const* o, int64_t n) {
  const T *m0 = m[0], *m1 = m[1], *m2 = m[2], *m3 = m[3], *m4 = m[4], *m5 = m[5];
  T *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3];
  RESA_INDEPENDENT_ROWS
  for (int64_t t = 0; t < n; ++t) {
    const T a = m1[t] + m2[t], b = m1[t] - m2[t], c = m3[t] + m4[t], d = m3[t] - m4[t];
    o0[t] = m0[t] + a + c;
    o1[t] = b + T(2) * d;
    o2[t] = a + T(4) * c;
    o3[t] = b + T(8) * d + m5[t];
  }
}

#if defined(__AVX2__)
// The 4x4 transpose within each 128-bit half of four vectors: lane j of t[i] = lane i of v[j], in the
// low half and in the high one.
inline void transpose4_halves(const __m256* v, __m256* t) {
  const __m256 u0 = _mm256_unpacklo_ps(v[0], v[1]), u1 = _mm256_unpackhi_ps(v[0], v[1]);
  const __m256 u2 = _mm256_unpacklo_ps(v[2], v[3]), u3 = _mm256_unpackhi_ps(v[2], v[3]);
  t[0] = _mm256_shuffle_ps(u0, u2, 0x44), t[1] = _mm256_shuffle_ps(u0, u2, 0xEE);
  t[2] = _mm256_shuffle_ps(u1, u3, 0x44), t[3] = _mm256_shuffle_ps(u1, u3, 0xEE);
}

// Eight tiles' input columns from 34 consecutive values p[0, 34) of a row, given as four vectors
// (v[m] = p[8 m, 8 m + 8)) and p[32], p[33]: d[b][k] = p[4 k + b] for b < 6 and k < 8. A 4x4 transpose
// within each 128-bit half (which leaves tiles 0, 2, 4, 6 in the low half and 1, 3, 5, 7 in the high
// one) and a permute into tile order; columns 4 and 5 are columns 0 and 1 of the next tile.
inline void winograd4_columns8(const __m256* v, float p32, float p33, __m256* d) {
  __m256 t[4];
  transpose4_halves(v, t);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7), next = _mm256_setr_epi32(4, 1, 5, 2, 6, 3, 7, 7);
  d[0] = _mm256_permutevar8x32_ps(t[0], order);
  d[1] = _mm256_permutevar8x32_ps(t[1], order);
  d[2] = _mm256_permutevar8x32_ps(t[2], order);
  d[3] = _mm256_permutevar8x32_ps(t[3], order);
  d[4] = _mm256_blend_ps(_mm256_permutevar8x32_ps(t[0], next), _mm256_set1_ps(p32), 0x80);
  d[5] = _mm256_blend_ps(_mm256_permutevar8x32_ps(t[1], next), _mm256_set1_ps(p33), 0x80);
}

// The same columns read straight from a row of w values, as if padded with zeros on both sides:
// p[j] = row[at + j] where 0 <= at + j < w, else 0 (at may be negative).
inline void winograd4_columns8(const float* row, int64_t at, int64_t w, __m256* d) {
  __m256 v[4];
  for (int m = 0; m < 4; ++m) v[m] = load8_zero_padded(row, at + 8 * m, w);
  const float p32 = at + 32 >= 0 && at + 32 < w ? row[at + 32] : 0.0f;
  const float p33 = at + 33 >= 0 && at + 33 < w ? row[at + 33] : 0.0f;
  winograd4_columns8(v, p32, p33, d);
}
#endif

// Whether this version has the eight-tile row kernels below (winograd4_input_row, winograd4_tile_row,
// winograd4_output_row); else the blocks are gathered and scattered one value at a time, and the input's
// d B is then computed in place.
template <typename T>
constexpr bool kWinograd4VectorRows = false;
#if defined(__AVX2__)
template <>
constexpr bool kWinograd4VectorRows<float> = true;

// One row of the 4x4 output tiles of tq tiles from a row of w values: dst[cc * ld + tj] = row[4 tj + cc]
// (0 past w), eight tiles at a time; writes up to the next multiple of 8 tiles, as winograd4_input_row.
inline void winograd4_tile_row(const float* row, int64_t w, int64_t tq, float* dst, int64_t ld) {
  for (int64_t j0 = 0; j0 < tq; j0 += 8) {
    __m256 d[6];
    winograd4_columns8(row, 4 * j0, w, d);
    for (int cc = 0; cc < 4; ++cc) _mm256_storeu_ps(dst + cc * ld + j0, d[cc]);
  }
}

// One row a of the 6x6 input blocks of tq tiles, with B^T applied along it, from an input row of w values
// with pad zeros before it (and zeros past it): dst[b * ld + tj] = (B^T d)[b] with d[j] = row[4 tj + j -
// pad], eight tiles at a time; writes dst[b * ld + tj] for tj up to the next multiple of 8 (the caller
// leaves that room).
inline void winograd4_input_row(const float* row, int64_t w, int64_t pad, int64_t tq, float* dst, int64_t ld) {
  for (int64_t j0 = 0; j0 < tq; j0 += 8) {
    __m256 d[6], o[6];
    winograd4_columns8(row, 4 * j0 - pad, w, d);
    winograd4_bt_values<float>(d[0], d[1], d[2], d[3], d[4], d[5], o);
    for (int b = 0; b < 6; ++b) _mm256_storeu_ps(dst + b * ld + j0, o[b]);
  }
}

// One row r of the 4x4 output tiles of tq tiles into an output row of q values: yr[4 tj + cc] = o[cc * nt +
// tj] + bias for 4 tj + cc < q, eight tiles at a time (a 4x8 transpose in registers; nothing at or past q is
// written). Reads o[cc * nt + tj] for tj up to the next multiple of 8 (the caller leaves that room).
inline void winograd4_output_row(const float* o, int64_t nt, int64_t tq, int64_t q, float bias, float* yr) {
  const __m256 vb = _mm256_set1_ps(bias);
  for (int64_t j0 = 0; j0 < tq; j0 += 8) {
    const __m256 c[4] = {_mm256_loadu_ps(o + j0), _mm256_loadu_ps(o + nt + j0), _mm256_loadu_ps(o + 2 * nt + j0),
                         _mm256_loadu_ps(o + 3 * nt + j0)};
    // values cc = 0..3 of tiles 0 and 4 | 1 and 5 | 2 and 6 | 3 and 7 (low and high halves), then in order.
    __m256 t[4];
    transpose4_halves(c, t);
    const __m256 out[4] = {_mm256_permute2f128_ps(t[0], t[1], 0x20), _mm256_permute2f128_ps(t[2], t[3], 0x20),
                           _mm256_permute2f128_ps(t[0], t[1], 0x31), _mm256_permute2f128_ps(t[2], t[3], 0x31)};
    for (int m = 0; m < 4; ++m) {
      const int64_t q0 = 4 * j0 + 8 * m;
      if (q0 >= q) break;
      const __m256 v = _mm256_add_ps(out[m], vb);
      if (q0 + 8 <= q)
        _mm256_storeu_ps(yr + q0, v);
      else
        store_first(yr + q0, v, q - q0);
    }
  }
}
#endif

#if defined(__AVX512F__)
// Rows of this many tiles or fewer take winograd4_input_gather with AVX-512, where the eight-tile row
// kernel leaves three quarters or more of its lanes idle. On the Xeon (perf, share of each layer's forward
// + backward at batch 256) the input transform of 128x7x7 (two tiles a row) went from 22% to 16%, of
// 256x4x4 (one) from 21% to 12.5%; 64x14x14 (four) went from 23% to 26%, so it keeps the row kernel.
constexpr int64_t kWinograd4GatherMaxTq = 2;

// d B of every 6x6 input block of gs images' planes of one channel (plane of image i at base + i * image,
// H x W; tile t = i * tp * tq + ti * tq + tj as in winograd4_input), sixteen tiles at a time whatever
// their rows and images: each of the block's 36 values is one masked gather (zero in the padding), then
// B^T along each block row in registers; row 6 a + b of buf (stride lb) gets (d B)[a][b] of every tile.
// The same operations as winograd4_input_row, so the same bits. Offsets are int32: the caller checks
// that gs * image fits.
inline void winograd4_input_gather(const ConvShape& g, const float* base, int64_t image, int64_t gs, int64_t tp,
                                   int64_t tq, float* buf, int64_t lb) {
  const int64_t nt = gs * tp * tq;
  alignas(64) int32_t off[16], r0[16], c0[16];
  int64_t i = 0, ti = 0, tj = 0;  // the position of tile t0
  const __m512i zero = _mm512_setzero_si512(), vh = _mm512_set1_epi32(static_cast<int32_t>(g.h)),
                vw = _mm512_set1_epi32(static_cast<int32_t>(g.w));
  for (int64_t t0 = 0; t0 < nt; t0 += 16) {
    const int64_t m = min64(16, nt - t0);
    for (int64_t k = 0; k < 16; ++k) {
      if (k < m) {
        r0[k] = static_cast<int32_t>(4 * ti - g.pad_h);
        c0[k] = static_cast<int32_t>(4 * tj - g.pad_w);
        off[k] = static_cast<int32_t>(i * image + r0[k] * g.w + c0[k]);
        if (++tj == tq) {
          tj = 0;
          if (++ti == tp) ti = 0, ++i;
        }
      } else {
        r0[k] = c0[k] = off[k] = 0;  // lanes past the last tile: masked off below
      }
    }
    const __mmask16 live = static_cast<__mmask16>(m == 16 ? 0xFFFF : (1u << m) - 1);
    const __m512i vr0 = _mm512_load_si512(r0), vc0 = _mm512_load_si512(c0), voff = _mm512_load_si512(off);
    __mmask16 column_inside[6];
    for (int b = 0; b < 6; ++b) {
      const __m512i col = _mm512_add_epi32(vc0, _mm512_set1_epi32(b));
      column_inside[b] = _mm512_cmpge_epi32_mask(col, zero) & _mm512_cmplt_epi32_mask(col, vw);
    }
    for (int a = 0; a < 6; ++a) {
      const __m512i row = _mm512_add_epi32(vr0, _mm512_set1_epi32(a));
      const __mmask16 row_inside = live & _mm512_cmpge_epi32_mask(row, zero) & _mm512_cmplt_epi32_mask(row, vh);
      const __m512i at = _mm512_add_epi32(voff, _mm512_set1_epi32(static_cast<int32_t>(a * g.w)));
      __m512 d[6], o[6];
      for (int b = 0; b < 6; ++b)
        d[b] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), row_inside & column_inside[b],
                                        _mm512_add_epi32(at, _mm512_set1_epi32(b)), base, 4);
      winograd4_bt_values<float>(d[0], d[1], d[2], d[3], d[4], d[5], o);
      for (int b = 0; b < 6; ++b) _mm512_mask_storeu_ps(buf + (6 * a + b) * lb + t0, live, o[b]);
    }
  }
}
#endif

// Asks for the n values at p to be brought into the cache: the next image's plane, which the transforms
// below read after the current one's although it lies a whole C * H * W stride further (perf showed the
// first loads of each plane waiting on memory).
template <typename T>
inline void prefetch_plane(const T* p, int64_t n) {
  const char* bytes = reinterpret_cast<const char*>(p);
  for (int64_t off = 0; off < n * static_cast<int64_t>(sizeof(T)); off += 64) __builtin_prefetch(bytes + off);
}

// Channel c of images [n0, n0 + gs) into V: v[e * ld + t] = (B^T d B)[e] for the 6x6 input block of
// tile t = i * tp * tq + ti * tq + tj (rows 4 ti - pad_h .., columns 4 tj - pad_w .., zero outside the
// plane). First d B, row by row of the blocks, into buf (36 rows of nt = gs * tp * tq at stride nt + 8,
// row 6 a + b holding element (a, b) of every tile), so that the second half of the transform runs along
// t with unit stride. d B is computed as each input row is read where this version has
// winograd4_input_row; else the blocks are gathered through one zero-padded row (4 tq + 2 values after
// the 36 rows) and transformed in place. buf: 36 * (nt + 8) + 4 * tq + 2.
template <typename T>
void winograd4_input(const ConvShape& g, const T* x, int64_t n0, int64_t gs, int64_t c, int64_t tp, int64_t tq, T* v,
                     int64_t ld, T* buf) {
  const int64_t tiles = tp * tq, nt = gs * tiles, hw = g.h * g.w, lb = nt + 8;
  // One input row with its padding: prow[j] = x[h][j - pad_w], zero outside the row.
  T* prow = buf + 36 * lb;
  const int64_t plen = 4 * tq + 2, w0 = min64(g.pad_w, plen), w1 = clamp64(g.pad_w + g.w, w0, plen);
  if constexpr (!kWinograd4VectorRows<T>) {
    for (int64_t j = 0; j < w0; ++j) prow[j] = T(0);
    for (int64_t j = w1; j < plen; ++j) prow[j] = T(0);
  }
  bool gathered = false;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>)
    if (tq <= kWinograd4GatherMaxTq && gs * g.c * hw < (int64_t{1} << 31)) {
      winograd4_input_gather(g, x + (n0 * g.c + c) * hw, g.c * hw, gs, tp, tq, buf, lb);
      gathered = true;
    }
#endif
  for (int64_t i = 0; i < gs && !gathered; ++i) {
    const T* plane = x + ((n0 + i) * g.c + c) * hw;
    if (i + 1 < gs) prefetch_plane(plane + g.c * hw, hw);
    for (int64_t ti = 0; ti < tp; ++ti)
      for (int64_t a = 0; a < 6; ++a) {
        T* dst = buf + 6 * a * lb + i * tiles + ti * tq;
        const int64_t h = 4 * ti + a - g.pad_h;
        if (h < 0 || h >= g.h) {  // zero, and so is its transform
          for (int64_t b = 0; b < 6; ++b)
            for (int64_t tj = 0; tj < tq; ++tj) dst[b * lb + tj] = T(0);
          continue;
        }
        const T* row = plane + h * g.w;
        if constexpr (kWinograd4VectorRows<T>) {
          winograd4_input_row(row, g.w, g.pad_w, tq, dst, lb);
        } else {
          for (int64_t j = w0; j < w1; ++j) prow[j] = row[j - g.pad_w];
          for (int64_t b = 0; b < 6; ++b)
            for (int64_t tj = 0; tj < tq; ++tj) dst[b * lb + tj] = prow[4 * tj + b];
        }
      }
  }
  T* r[6];
  T* o[6];
  if constexpr (!kWinograd4VectorRows<T>)
    for (int64_t a = 0; a < 6; ++a) {  // d B: B^T along each row of the block, in place
      for (int b = 0; b < 6; ++b) r[b] = buf + (6 * a + b) * lb;
      winograd4_bt(r, r, nt);
    }
  for (int64_t col = 0; col < 6; ++col) {  // B^T (d B) down each column, into v
    for (int a = 0; a < 6; ++a) {
      r[a] = buf + (6 * a + col) * lb;
      o[a] = v + (6 * a + col) * ld;
    }
    winograd4_bt(r, o, nt);
  }
}

// Output channel k of images [n0, n0 + gs) from M (row e at m + e * ld, tiles t as above):
// y tile = A^T m A + bias, the part of each 4x4 tile inside the P x Q plane. buf: 40 * nt + 8 (the
// eight-tile row kernel reads up to 7 values past the last row).
template <typename T>
void winograd4_output(const ConvShape& g, const T* m, int64_t ld, int64_t n0, int64_t gs, int64_t k, int64_t tp,
                      int64_t tq, T bias, T* y, T* buf) {
  const int64_t tiles = tp * tq, nt = gs * tiles, pq = g.p * g.q;
  T* s = buf;            // s[(6 r + col) * nt + t] = (A^T m)[r][col]
  T* o = buf + 24 * nt;  // o[(4 r + col) * nt + t] = (A^T m A)[r][col]
  const T* mr[6];
  T* orow[4];
  for (int64_t col = 0; col < 6; ++col) {
    for (int a = 0; a < 6; ++a) mr[a] = m + (6 * a + col) * ld;
    for (int r = 0; r < 4; ++r) orow[r] = s + (6 * r + col) * nt;
    winograd4_at(mr, orow, nt);
  }
  for (int64_t r = 0; r < 4; ++r) {
    for (int b = 0; b < 6; ++b) mr[b] = s + (6 * r + b) * nt;
    for (int cc = 0; cc < 4; ++cc) orow[cc] = o + (4 * r + cc) * nt;
    winograd4_at(mr, orow, nt);
  }
  for (int64_t i = 0; i < gs; ++i) {
    T* plane = y + ((n0 + i) * g.k + k) * pq;
    for (int64_t ti = 0; ti < tp; ++ti)
      for (int64_t r = 0; r < 4 && 4 * ti + r < g.p; ++r) {
        T* yr = plane + (4 * ti + r) * g.q;
        if constexpr (kWinograd4VectorRows<T>)
          if (tq >= 4) {  // narrower rows fill too little of the eight-tile block (7x7 planes: 1.05-1.15x)
            winograd4_output_row(o + 4 * r * nt + i * tiles + ti * tq, nt, tq, g.q, bias, yr);
            continue;
          }
        for (int64_t tj = 0; tj < tq; ++tj) {
          const T* src = o + 4 * r * nt + i * tiles + ti * tq + tj;
          const int64_t q0 = 4 * tj, qn = min64(4, g.q - q0);
          for (int64_t cc = 0; cc < qn; ++cc) yr[q0 + cc] = src[cc * nt] + bias;
        }
      }
  }
}

// The weight gradient's transforms. Output channel k of images [n0, n0 + gs) of dy: the 4x4 tiles
// (zero past the P x Q plane), each turned into A dy A^T (6x6), into d: d[e * ld + t] for tile t as in
// winograd4_input. buf: 16 * (nt + 8) + 24 * nt.
template <typename T>
void winograd4_grad_output(const ConvShape& g, const T* dy, int64_t n0, int64_t gs, int64_t k, int64_t tp, int64_t tq,
                           T* d, int64_t ld, T* buf) {
  const int64_t tiles = tp * tq, nt = gs * tiles, pq = g.p * g.q, lt = nt + 8;
  T* tile = buf;            // tile[(4 r + cc) * lt + t]
  T* half = buf + 16 * lt;  // half[(4 a + cc) * nt + t] = (A dy)[a][cc]
  for (int64_t i = 0; i < gs; ++i) {
    const T* plane = dy + ((n0 + i) * g.k + k) * pq;
    if (i + 1 < gs) prefetch_plane(plane + g.k * pq, pq);
    for (int64_t ti = 0; ti < tp; ++ti)
      for (int64_t r = 0; r < 4; ++r) {
        T* dst = tile + 4 * r * lt + i * tiles + ti * tq;
        const int64_t p = 4 * ti + r;
        if (p >= g.p) {
          for (int64_t cc = 0; cc < 4; ++cc)
            for (int64_t tj = 0; tj < tq; ++tj) dst[cc * lt + tj] = T(0);
          continue;
        }
        if constexpr (kWinograd4VectorRows<T>) {
          winograd4_tile_row(plane + p * g.q, g.q, tq, dst, lt);
        } else {
          for (int64_t tj = 0; tj < tq; ++tj)
            for (int64_t cc = 0; cc < 4; ++cc) {
              const int64_t q = 4 * tj + cc;
              dst[cc * lt + tj] = q < g.q ? plane[p * g.q + q] : T(0);
            }
        }
      }
  }
  // A applied to four rows (u[0..3]) into six (o[0..5]): o = A u, A = (A^T)^T.
  auto apply_a = [nt](const T* const* u, T* const* o) {
    const T *u0 = u[0], *u1 = u[1], *u2 = u[2], *u3 = u[3];
    T *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3], *o4 = o[4], *o5 = o[5];
    RESA_INDEPENDENT_ROWS
    for (int64_t t = 0; t < nt; ++t) {
      const T a = u0[t] + u2[t], b = u1[t] + u3[t], c = u0[t] + T(4) * u2[t], e = T(2) * u1[t] + T(8) * u3[t];
      o0[t] = u0[t];
      o1[t] = a + b;
      o2[t] = a - b;
      o3[t] = c + e;
      o4[t] = c - e;
      o5[t] = u3[t];
    }
  };
  const T* u[4];
  T* o[6];
  for (int64_t cc = 0; cc < 4; ++cc) {  // A down each column of the tile
    for (int r = 0; r < 4; ++r) u[r] = tile + (4 * r + cc) * lt;
    for (int a = 0; a < 6; ++a) o[a] = half + (4 * a + cc) * nt;
    apply_a(u, o);
  }
  for (int64_t a = 0; a < 6; ++a) {  // then along each row, into d
    for (int cc = 0; cc < 4; ++cc) u[cc] = half + (4 * a + cc) * nt;
    for (int b = 0; b < 6; ++b) o[b] = d + (6 * a + b) * ld;
    apply_a(u, o);
  }
}

// dw (K, C, 3, 3) for filters [i0, i1) from du (36 matrices of K * C): dw = G^T du G, in double.
template <typename T>
void winograd4_grad_weight(const ConvShape& g, const T* du, T* dw, int64_t i0, int64_t i1) {
  static const double gm[6][3] = {{0.25, 0, 0},
                                  {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                  {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                  {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                  {0, 0, 1}};
  const int64_t kc = g.k * g.c;
  for (int64_t i = i0; i < i1; ++i) {
    double x[6][6];
    for (int e = 0; e < 36; ++e) x[e / 6][e % 6] = du[e * kc + i];
    double t[3][6];  // G^T x
    for (int a = 0; a < 3; ++a)
      for (int col = 0; col < 6; ++col) {
        double acc = 0;
        for (int r = 0; r < 6; ++r) acc += gm[r][a] * x[r][col];
        t[a][col] = acc;
      }
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        double acc = 0;
        for (int col = 0; col < 6; ++col) acc += t[a][col] * gm[col][b];
        dw[i * 9 + a * 3 + b] = static_cast<T>(acc);
      }
  }
}

// ---- optimizer updates ----

template <typename T>
void sgd(int64_t i0, int64_t i1, T* p, const T* g, T* buf, const ops::SgdParams& o, bool first) {
  const T wd = static_cast<T>(o.weight_decay), mom = static_cast<T>(o.momentum),
          damp = static_cast<T>(1.0 - o.dampening), lr = static_cast<T>(o.lr);
  const bool use_wd = o.weight_decay != 0, use_mom = o.momentum != 0 && buf != nullptr;
  for (int64_t i = i0; i < i1; ++i) {
    T d = use_wd ? g[i] + p[i] * wd : g[i];
    if (use_mom) {
      const T nb = first ? d : buf[i] * mom + d * damp;
      buf[i] = nb;
      d = o.nesterov ? d + nb * mom : nb;
    }
    p[i] = p[i] - d * lr;
  }
}

template <typename T>
void ema(int64_t i0, int64_t i1, T* t, const T* s, double m) {
  const T a = static_cast<T>(m), b = static_cast<T>(1.0 - m);
  for (int64_t i = i0; i < i1; ++i) t[i] = t[i] * a + s[i] * b;
}

template <typename T>
constexpr IsaKernels<T> kernels_of() {
  return {bn_train<T>,
          bn_eval<T>,
          bn_backward<T>,
          im2col<T>,
          im2col_same_width<T>,
          im2col_gather<T>,
          col2im<T>,
          col2im_scatter<T>,
          winograd_weight<T>,
          winograd_input<T>,
          winograd_output<T>,
          winograd4_weight<T>,
          winograd4_input<T>,
          winograd4_output<T>,
          winograd4_grad_output<T>,
          winograd4_grad_weight<T>,
          sgd<T>,
          ema<T>};
}

}  // namespace

// This version's table, looked up by ops/cpu/isa.cpp.
const IsaKernelTable& kernel_table() {
  static const IsaKernelTable table{kernels_of<float>(), kernels_of<double>()};
  return table;
}

}  // namespace resa::cpu::RESA_ISA_NS
