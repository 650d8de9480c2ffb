// The implicit-GEMM convolution's multiplication (ops/cpu/conv_implicit.h), AVX2 + FMA: this file gets
// -mavx2 -mfma (CMakeLists.txt, *_avx2.cpp) and is only called when implicit::applies() has seen that
// the active hot-loop version is AVX2. No std:: templates or shared inline code here: an instantiation
// compiled with AVX2 could be the copy the linker keeps for baseline callers.
//
// Loop order (per block of 144 output positions = 6 panels of 24, which may span images):
//   for each block of k = (c, r, s) rows (<= 256, ops/cpu/conv_implicit.cpp's block_length):
//     pack the panels whose 24 positions are not consecutive in one image (the end of an image, of the
//       batch, or a read that would leave the tensor): per row k and 8 positions, masked loads from the
//       input planes (padding lanes, and lanes past the batch, read as zero);
//     for each panel (24 positions), for each 4 output channels: the 4 x 24 micro-kernel over the
//       block's rows, reading its B rows from the packed panel or straight from the input (3 loads and
//       3 masks per row), then the tile is stored (first block of rows) or added (later ones) into y.
// Positions are numbered across the images of [n0, n1): an 8-lane vector may hold the end of one image
// and the start of the next (planes of >= 8 positions), so packing and storing take two masks.
#include <immintrin.h>

#include "resa/core/storage.h"
#include "resa/ops/cpu/conv_implicit.h"

namespace resa::cpu::implicit {
namespace {

constexpr int64_t kNr = 24;                 // positions per panel (3 vectors)
constexpr int64_t kVecsPerPanel = kNr / 8;  // 3
constexpr int64_t kPanels = 6;              // panels per block of positions
constexpr int64_t kVecs = kPanels * kVecsPerPanel;
constexpr int64_t kBlock = kPanels * kNr;  // 144 positions

inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }

template <typename T>
class Buffer {
 public:
  explicit Buffer(int64_t n)
      : bytes_(static_cast<size_t>(n) * sizeof(T)), data_(static_cast<T*>(cpu_allocator()->allocate(bytes_, 0))) {}
  ~Buffer() { cpu_allocator()->deallocate(data_, bytes_, 0); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  T* data() const { return data_; }
  T& operator[](int64_t i) const { return data_[i]; }

 private:
  size_t bytes_;
  T* data_;
};

// One 8-lane vector of positions: lanes [0, split) are positions pos0 .. of image `img`, lanes
// [split, valid) the first positions of image img + 1, lanes >= valid lie past the batch.
struct Lanes {
  int64_t x_off;  // img * C * H * W + pos0
  int64_t y_off;  // img * K * P * Q + pos0
  int32_t split, valid;
  int32_t p[8], q[8];
};

// A mask in a struct: a vector type as a template argument loses its alignment attribute.
struct Mask {
  __m256i m;
};

inline __m256i lane_mask(int32_t lo, int32_t hi) {  // lanes [lo, hi) set
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_and_si256(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(lo - 1)),
                          _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), idx));
}

// c (4 x 24, row stride ldc) = a (kc x 4 packed) . b (kc x 24), row k of b being load_b(k, &b0, &b1, &b2);
// with accumulate, c += instead.
template <typename LoadB>
inline void micro_kernel(int64_t kc, const float* a, LoadB load_b, float* c, int64_t ldc = kNr,
                         bool accumulate = false) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c02 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps(), c12 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c22 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c32 = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b0, b1, b2;
    load_b(k, b0, b1, b2);
    __m256 av = _mm256_broadcast_ss(a);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    c02 = _mm256_fmadd_ps(av, b2, c02);
    av = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    c12 = _mm256_fmadd_ps(av, b2, c12);
    av = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    c22 = _mm256_fmadd_ps(av, b2, c22);
    av = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    c32 = _mm256_fmadd_ps(av, b2, c32);
    a += 4;
  }
  const __m256 rows[4][3] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32}};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) {
      float* dst = c + i * ldc + 8 * j;
      _mm256_storeu_ps(dst, accumulate ? _mm256_add_ps(rows[i][j], _mm256_loadu_ps(dst)) : rows[i][j]);
    }
}

}  // namespace

void forward_images(const ConvShape& g, const float* x, const float* packed, float* y, int64_t n0, int64_t n1) {
  const int64_t rs = g.r * g.s, crs = g.c * rs, hw = g.h * g.w, pq = g.p * g.q;
  const int64_t kcn = block_length(crs), total = (n1 - n0) * pq;
  const int64_t x_size = g.n * g.c * hw;
  const int64_t x_next = g.c * hw - pq, y_next = g.k * pq;  // lane offset of the next image's positions
  Buffer<float> panels(kcn * kBlock);
  Buffer<Lanes> lanes(kVecs);
  // Per (r, s) and vector: the load masks of the lanes in the first and in the second image.
  Buffer<Mask> mask_a(rs * kVecs), mask_b(rs * kVecs);
  // Per vector: the store masks.
  Buffer<Mask> store_a(kVecs), store_b(kVecs);
  Buffer<int64_t> dk(kcn), tk(kcn);
  alignas(32) float tile[4 * kNr];

  for (int64_t j0 = 0; j0 < total; j0 += kBlock) {
    for (int64_t v = 0; v < kVecs; ++v) {
      Lanes& L = lanes.data()[v];
      const int64_t j = j0 + 8 * v;
      if (j >= total) {
        L = Lanes{0, 0, 0, 0, {}, {}};
      } else {
        const int64_t img = n0 + j / pq, pos0 = j % pq;
        L.valid = static_cast<int32_t>(min_i64(8, total - j));
        L.split = static_cast<int32_t>(min_i64(L.valid, pq - pos0));
        L.x_off = img * g.c * hw + pos0;
        L.y_off = img * g.k * pq + pos0;
        for (int32_t l = 0; l < 8; ++l) {
          const int64_t pos = l < L.split ? pos0 + l : pos0 + l - pq;
          L.p[l] = static_cast<int32_t>(pos / g.q);
          L.q[l] = static_cast<int32_t>(pos % g.q);
        }
      }
      store_a.data()[v].m = lane_mask(0, L.split);
      store_b.data()[v].m = lane_mask(L.split, L.valid);
      for (int64_t r = 0; r < g.r; ++r)
        for (int64_t s = 0; s < g.s; ++s) {
          alignas(32) int32_t ma[8], mb[8];
          for (int32_t l = 0; l < 8; ++l) {
            const int64_t ih = L.p[l] + r - g.pad_h, iw = L.q[l] + s - g.pad_w;
            const bool in = l < L.valid && ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
            ma[l] = in && l < L.split ? -1 : 0;
            mb[l] = in && l >= L.split ? -1 : 0;
          }
          mask_a.data()[v * rs + r * g.s + s].m = _mm256_load_si256(reinterpret_cast<const __m256i*>(ma));
          mask_b.data()[v * rs + r * g.s + s].m = _mm256_load_si256(reinterpret_cast<const __m256i*>(mb));
        }
    }
    const int64_t npanels = min_i64(kPanels, (total - j0 + kNr - 1) / kNr), nvecs = npanels * kVecsPerPanel;

    for (int64_t k0 = 0; k0 < crs; k0 += kcn) {
      const int64_t kc = min_i64(kcn, crs - k0);
      // Pack rows [k0, k0 + kc) of the block's columns: panel t holds kc x 24 floats. Row k reads the
      // input at offset dk[k] from a lane's pixel, with the masks of its (r, s).
      int64_t dmin = 0, dmax = 0;
      for (int64_t kk = 0; kk < kc; ++kk) {
        const int64_t k = k0 + kk, c = k / rs, t = k % rs, r = t / g.s, s = t % g.s;
        dk[kk] = c * hw + (r - g.pad_h) * g.w + (s - g.pad_w);
        tk[kk] = t;
        dmin = kk == 0 || dk[kk] < dmin ? dk[kk] : dmin;
        dmax = kk == 0 || dk[kk] > dmax ? dk[kk] : dmax;
        // Once per channel: the input the next block of positions will read (the rows below this
        // block's), fetched while this one is packed and multiplied.
        if (t == 0)
          for (int64_t e = 0; e < kBlock; e += 16)
            _mm_prefetch(reinterpret_cast<const char*>(x + lanes.data()[0].x_off + c * hw + kBlock + g.w + 1 + e),
                         _MM_HINT_T0);
      }
      // A panel whose 24 positions are consecutive in one image, with every read inside the tensor,
      // is read by the micro-kernel straight from the input (three loads per row, the padding lanes
      // masked off): no copy at all. The others (the end of an image or of the batch) are packed.
      bool direct[kPanels];
      for (int64_t t = 0; t < npanels; ++t) {
        const Lanes* L = lanes.data() + t * kVecsPerPanel;
        direct[t] = L[0].split == 8 && L[1].split == 8 && L[2].split == 8 && L[1].x_off == L[0].x_off + 8 &&
                    L[2].x_off == L[0].x_off + 16 && L[0].x_off + dmin >= 0 && L[0].x_off + dmax + kNr <= x_size;
      }
      for (int64_t v = 0; v < nvecs; ++v) {
        if (direct[v / kVecsPerPanel]) continue;
        const Lanes& L = lanes.data()[v];
        float* dst = panels.data() + (v / kVecsPerPanel) * kc * kNr + (v % kVecsPerPanel) * 8;
        const float* src = x + L.x_off;
        const Mask* ma = mask_a.data() + v * rs;
        const Mask* mb = mask_b.data() + v * rs;
        for (int64_t kk = 0; kk < kc; ++kk) {
          __m256 val = _mm256_maskload_ps(src + dk[kk], ma[tk[kk]].m);
          if (L.split < L.valid) val = _mm256_or_ps(val, _mm256_maskload_ps(src + dk[kk] + x_next, mb[tk[kk]].m));
          _mm256_storeu_ps(dst + kk * kNr, val);
        }
      }
      const float* block = packed + k0 * g.k;
      const bool first = k0 == 0;
      for (int64_t t = 0; t < npanels; ++t) {
        const float* panel = panels.data() + t * kc * kNr;
        const float* src = x + lanes.data()[t * kVecsPerPanel].x_off;
        const Mask* masks = mask_a.data() + t * kVecsPerPanel * rs;
        const int64_t* dkp = dk.data();
        const int64_t* tkp = tk.data();
        for (int64_t m = 0; m < g.k; m += 4) {
          if (direct[t]) {
            micro_kernel(
                kc, block + m * kc,
                [&](int64_t k, __m256& b0, __m256& b1, __m256& b2) {
                  const float* p = src + dkp[k];
                  const Mask* mk = masks + tkp[k];
                  b0 = _mm256_and_ps(_mm256_loadu_ps(p), _mm256_castsi256_ps(mk[0].m));
                  b1 = _mm256_and_ps(_mm256_loadu_ps(p + 8), _mm256_castsi256_ps(mk[rs].m));
                  b2 = _mm256_and_ps(_mm256_loadu_ps(p + 16), _mm256_castsi256_ps(mk[2 * rs].m));
                },
                tile);
          } else {
            micro_kernel(
                kc, block + m * kc,
                [&](int64_t k, __m256& b0, __m256& b1, __m256& b2) {
                  const float* p = panel + k * kNr;
                  b0 = _mm256_loadu_ps(p);
                  b1 = _mm256_loadu_ps(p + 8);
                  b2 = _mm256_loadu_ps(p + 16);
                },
                tile);
          }
          for (int64_t u = 0; u < kVecsPerPanel; ++u) {
            const int64_t v = t * kVecsPerPanel + u;
            const Lanes& L = lanes.data()[v];
            if (L.valid == 0) continue;
            for (int64_t i = 0; i < 4; ++i) {
              float* dst = y + L.y_off + (m + i) * pq;
              __m256 val = _mm256_load_ps(tile + i * kNr + u * 8);
              if (L.split == 8) {
                if (!first) val = _mm256_add_ps(val, _mm256_loadu_ps(dst));
                _mm256_storeu_ps(dst, val);
              } else {
                const __m256i sa = store_a.data()[v].m, sb = store_b.data()[v].m;
                if (!first) {
                  __m256 old = _mm256_maskload_ps(dst, sa);
                  if (L.split < L.valid) old = _mm256_or_ps(old, _mm256_maskload_ps(dst + y_next - pq, sb));
                  val = _mm256_add_ps(val, old);
                }
                _mm256_maskstore_ps(dst, sa, val);
                if (L.split < L.valid) _mm256_maskstore_ps(dst + y_next - pq, sb, val);
              }
            }
          }
        }
      }
    }
  }
}

namespace {

// The zero-padded copy of one image that the padded kernels read, split by stride into phases: with
// strides (sh, sw), padded row i and column j of channel c go to phase (i % sh, j % sw) at row i / sh,
// column j / sw, a plane of hq x wq (hq = ceil(hp / sh), wq = ceil(wp / sw), hp and wp the padded
// height and width; one phase, the padded plane itself, with stride 1). Output position
// j = p * wq + q reads padded (sh p + r, sw q + s) under tap (r, s), which is phase (r % sh, s % sw) at
// j + (r / sh) * wq + s / sw: one run of consecutive floats per (c, r, s) for any run of positions,
// whatever the padding and stride. The last wq - Q positions of each row are computed and dropped.
// Reads of the last vector of positions may pass the last plane by up to S + 24 floats: that slack,
// the padding and the phase cells past the padded plane are zeroed once, and load() writes only the
// image's own cells.
struct PaddedImage {
  int64_t sh, sw, wq, plane, channel, span;  // strides, phase width, phase plane, floats per channel, P * wq
  Buffer<float> data;
  explicit PaddedImage(const ConvShape& g)
      : sh(g.stride_h),
        sw(g.stride_w),
        wq((g.w + 2 * g.pad_w + sw - 1) / sw),
        plane((g.h + 2 * g.pad_h + sh - 1) / sh * wq),
        channel(sh * sw * plane),
        span(g.p * wq),
        data(g.c * channel + g.s + kNr + 8) {
    for (int64_t i = 0; i < g.c * channel + g.s + kNr + 8; ++i) data[i] = 0.f;
  }
  // Fills the copy from one image of x (C, H, W).
  void load(const ConvShape& g, const float* x) {
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t h = 0; h < g.h; ++h) {
        const int64_t i = h + g.pad_h;
        const float* src = x + (c * g.h + h) * g.w;
        float* row = data.data() + c * channel + (i % sh) * sw * plane + (i / sh) * wq;
        if (sw == 1) {
          for (int64_t w = 0; w < g.w; ++w) row[g.pad_w + w] = src[w];
        } else {
          for (int64_t w = 0; w < g.w; ++w) {
            const int64_t j = w + g.pad_w;
            row[(j % sw) * plane + j / sw] = src[w];
          }
        }
      }
  }
  // Offset of row k = (c, r, s) of the column matrix from a position.
  int64_t offset(const ConvShape& g, int64_t k) const {
    const int64_t rs = g.r * g.s, c = k / rs, r = (k % rs) / g.s, s = k % g.s;
    return c * channel + ((r % sh) * sw + s % sw) * plane + (r / sh) * wq + s / sw;
  }
};

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Sums of the 8 lanes of a, b, c, d, as a 4-lane vector.
inline __m128 sum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// dw rows m .. m + 3, columns k .. k + NB - 1 (row stride crs) (+)= dy rows (stride ld) . the NB column
// runs at b + off[0 .. NB), over n floats (a multiple of 8).
template <int NB>
inline void weight_tile(const float* dy, int64_t ld, const float* b, const int64_t* off, int64_t n, float* dw,
                        int64_t crs, bool accumulate) {
  __m256 acc[NB][4];
  for (int j = 0; j < NB; ++j)
    for (int i = 0; i < 4; ++i) acc[j][i] = _mm256_setzero_ps();
  const float* bj[NB];
  for (int j = 0; j < NB; ++j) bj[j] = b + off[j];
  for (int64_t v = 0; v < n; v += 8) {
    const __m256 a0 = _mm256_loadu_ps(dy + v), a1 = _mm256_loadu_ps(dy + ld + v);
    const __m256 a2 = _mm256_loadu_ps(dy + 2 * ld + v), a3 = _mm256_loadu_ps(dy + 3 * ld + v);
    for (int j = 0; j < NB; ++j) {
      const __m256 bv = _mm256_loadu_ps(bj[j] + v);
      acc[j][0] = _mm256_fmadd_ps(a0, bv, acc[j][0]);
      acc[j][1] = _mm256_fmadd_ps(a1, bv, acc[j][1]);
      acc[j][2] = _mm256_fmadd_ps(a2, bv, acc[j][2]);
      acc[j][3] = _mm256_fmadd_ps(a3, bv, acc[j][3]);
    }
  }
  for (int j = 0; j < NB; ++j) {
    alignas(16) float sums[4];
    _mm_store_ps(sums, sum4(acc[j][0], acc[j][1], acc[j][2], acc[j][3]));
    for (int i = 0; i < 4; ++i) dw[i * crs + j] = accumulate ? dw[i * crs + j] + sums[i] : sums[i];
  }
}

}  // namespace

void forward_padded_images(const ConvShape& g, const float* x, const float* packed, const float* b, float* y,
                           int64_t n0, int64_t n1) {
  const int64_t crs = g.c * g.r * g.s, kcn = block_length(crs), pq = g.p * g.q;
  PaddedImage xp(g);
  const int64_t lp = round_up(xp.span, kNr);  // positions per output row of yp, whole panels
  Buffer<float> yp(g.k * lp);
  Buffer<int64_t> dk(kcn);
  for (int64_t n = n0; n < n1; ++n) {
    xp.load(g, x + n * g.c * g.h * g.w);
    for (int64_t k0 = 0; k0 < crs; k0 += kcn) {
      const int64_t kc = min_i64(kcn, crs - k0);
      for (int64_t kk = 0; kk < kc; ++kk) dk[kk] = xp.offset(g, k0 + kk);
      const float* block = packed + k0 * g.k;
      const int64_t* dkp = dk.data();
      for (int64_t j = 0; j < lp; j += kNr) {
        const float* src = xp.data.data() + j;
        for (int64_t m = 0; m < g.k; m += 4)
          micro_kernel(
              kc, block + m * kc,
              [&](int64_t k, __m256& b0, __m256& b1, __m256& b2) {
                const float* p = src + dkp[k];
                b0 = _mm256_loadu_ps(p);
                b1 = _mm256_loadu_ps(p + 8);
                b2 = _mm256_loadu_ps(p + 16);
              },
              yp.data() + m * lp + j, lp, k0 > 0);
      }
    }
    // The computed rows, less their last wp - Q positions, plus the bias, into y.
    for (int64_t k = 0; k < g.k; ++k) {
      const float bk = b ? b[k] : 0.f;
      float* dst = y + (n * g.k + k) * pq;
      for (int64_t p = 0; p < g.p; ++p) {
        const float* src = yp.data() + k * lp + p * xp.wq;
        for (int64_t q = 0; q < g.q; ++q) dst[p * g.q + q] = src[q] + bk;
      }
    }
  }
}

void backward_weight_padded_images(const ConvShape& g, const float* x, const float* dy, float* dw, int64_t n0,
                                   int64_t n1, bool accumulate) {
  const int64_t crs = g.c * g.r * g.s, pq = g.p * g.q;
  PaddedImage xp(g);
  const int64_t lj = round_up(xp.span, 8);
  // dy of one image laid out like the positions: row k, position p * wp + q, zero where q >= Q and past
  // the span, so that the computed-and-dropped positions add nothing.
  Buffer<float> dyp(g.k * lj);
  for (int64_t i = 0; i < g.k * lj; ++i) dyp[i] = 0.f;
  Buffer<int64_t> off(crs);
  for (int64_t k = 0; k < crs; ++k) off[k] = xp.offset(g, k);
  for (int64_t n = n0; n < n1; ++n) {
    xp.load(g, x + n * g.c * g.h * g.w);
    for (int64_t k = 0; k < g.k; ++k)
      for (int64_t p = 0; p < g.p; ++p) {
        const float* src = dy + (n * g.k + k) * pq + p * g.q;
        float* dst = dyp.data() + k * lj + p * xp.wq;
        for (int64_t q = 0; q < g.q; ++q) dst[q] = src[q];
      }
    const bool acc = accumulate || n > n0;
    for (int64_t m = 0; m < g.k; m += 4) {
      const float* a = dyp.data() + m * lj;
      float* dwm = dw + m * crs;
      int64_t k = 0;
      for (; k + 3 <= crs; k += 3) weight_tile<3>(a, lj, xp.data.data(), off.data() + k, lj, dwm + k, crs, acc);
      if (crs - k == 2) weight_tile<2>(a, lj, xp.data.data(), off.data() + k, lj, dwm + k, crs, acc);
      if (crs - k == 1) weight_tile<1>(a, lj, xp.data.data(), off.data() + k, lj, dwm + k, crs, acc);
    }
  }
}

}  // namespace resa::cpu::implicit
