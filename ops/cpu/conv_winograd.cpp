#include "resa/ops/cpu/conv_winograd.h"

#include <algorithm>

#include "resa/core/parallel.h"
#include "resa/ops/cpu/gemm.h"
#include "resa/ops/cpu/scratch.h"

namespace resa::cpu::winograd {

bool applies(const ConvShape& g) {
  return g.r == 3 && g.s == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dil_h == 1 && g.dil_w == 1 && g.p >= 1 &&
         g.q >= 1;
}

bool profitable(const ConvShape& g) { return applies(g) && g.c >= 128 && g.k >= 128 && g.p % 2 == 0 && g.q % 2 == 0; }

template <typename T>
void transform_weight(const ConvShape& g, const T* w, T* u) {
  const int64_t kc = g.k * g.c;
  parallel_for(kc, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {  // i = k * C + c, the (k, c) entry of each U[e]
      const T* f = w + i * 9;            // f[3 * row + col]
      T t[4][3];                         // G f: rows f0, (f0 + f1 + f2) / 2, (f0 - f1 + f2) / 2, f2
      for (int col = 0; col < 3; ++col) {
        const T f0 = f[col], f1 = f[3 + col], f2 = f[6 + col];
        t[0][col] = f0;
        t[1][col] = T(0.5) * (f0 + f1 + f2);
        t[2][col] = T(0.5) * (f0 - f1 + f2);
        t[3][col] = f2;
      }
      for (int row = 0; row < 4; ++row) {  // (G f) G^T, the same on the columns
        const T t0 = t[row][0], t1 = t[row][1], t2 = t[row][2];
        u[(row * 4 + 0) * kc + i] = t0;
        u[(row * 4 + 1) * kc + i] = T(0.5) * (t0 + t1 + t2);
        u[(row * 4 + 2) * kc + i] = T(0.5) * (t0 - t1 + t2);
        u[(row * 4 + 3) * kc + i] = t2;
      }
    }
  });
}

namespace {

// Images per group: enough tiles for wide GEMMs (about 512 columns), with V and M under ~4M elements.
int64_t group_size(const ConvShape& g, int64_t tiles, int64_t images) {
  int64_t gs = std::max<int64_t>(1, 512 / tiles);
  gs = std::min(gs, std::max<int64_t>(1, (int64_t{1} << 22) / (16 * (g.c + g.k) * tiles)));
  return std::max<int64_t>(1, std::min(gs, images));
}

// Scratch floats input_transform and output_transform need for one plane.
int64_t buffer_size(int64_t tp, int64_t tq) { return 2 * (tq + 1) + 4 * tq * (2 * tp + 2) + 16 * tq; }

// V[e][c][ti * TQ + tj] = (B^T d B)[e] for every tile of one input plane (H, W); ld = C * T is the
// distance between the 16 matrices. First d B for every input row of the padded plane (each row is
// shared by two rows of tiles), then B^T down the columns. Every inner loop runs over the tiles of a
// row with unit stride, so the compiler vectorises it: the row is split into its even and odd columns
// first, which turns the stride-2 tile pattern into plain shifts.
template <typename T>
void input_transform(const ConvShape& g, const T* plane, int64_t tp, int64_t tq, T* v, int64_t ld, T* buf) {
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
void output_transform(const ConvShape& g, const T* m, int64_t ld, int64_t tp, int64_t tq, T bias, T* plane, T* buf) {
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

}  // namespace

template <typename T>
void forward_images(const ConvShape& g, const T* x, const T* u, const T* b, T* y, int64_t n0, int64_t n1) {
  const int64_t tp = (g.p + 1) / 2, tq = (g.q + 1) / 2, tiles = tp * tq;
  const int64_t hw = g.h * g.w, pq = g.p * g.q;
  const int64_t gmax = group_size(g, tiles, n1 - n0);
  Scratch<T> v(static_cast<size_t>(16 * g.c * gmax * tiles));
  Scratch<T> m(static_cast<size_t>(16 * g.k * gmax * tiles));
  Scratch<T> buf(static_cast<size_t>(buffer_size(tp, tq)));
  for (int64_t n = n0; n < n1; n += gmax) {
    const int64_t gs = std::min(gmax, n1 - n), nt = gs * tiles;  // GEMM columns: the group's tiles
    // V[e] (C, nt): column i * tiles + t is tile t of image n + i.
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t i = 0; i < gs; ++i)
        input_transform(g, x + ((n + i) * g.c + c) * hw, tp, tq, v.data() + c * nt + i * tiles, g.c * nt, buf.data());
    // M[e] (K, nt) = U[e] (K, C) . V[e] (C, nt)
    for (int e = 0; e < 16; ++e)
      gemm(false, false, g.k, nt, g.c, T(1), u + e * g.k * g.c, g.c, v.data() + e * g.c * nt, nt, T(0),
           m.data() + e * g.k * nt, nt);
    for (int64_t k = 0; k < g.k; ++k)
      for (int64_t i = 0; i < gs; ++i)
        output_transform(g, m.data() + k * nt + i * tiles, g.k * nt, tp, tq, b ? b[k] : T(0),
                         y + ((n + i) * g.k + k) * pq, buf.data());
  }
}

template void transform_weight<float>(const ConvShape&, const float*, float*);
template void transform_weight<double>(const ConvShape&, const double*, double*);
template void forward_images<float>(const ConvShape&, const float*, const float*, const float*, float*, int64_t,
                                    int64_t);
template void forward_images<double>(const ConvShape&, const double*, const double*, const double*, double*, int64_t,
                                     int64_t);

}  // namespace resa::cpu::winograd
