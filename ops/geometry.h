// The geometry of a convolution or pooling call in plain integers, computed once by the op
// (ops/conv.cpp, ops/pool.cpp) and handed to whichever backend runs it (ops/cpu, ops/cuda).
#pragma once
#include <cstdint>

namespace resa::ops {

struct ConvShape {
  int64_t n, c, h, w;  // input (N, C, H, W)
  int64_t k, r, s;     // weight (K, C, R, S)
  int64_t p, q;        // output (N, K, P, Q)
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  // A 1x1 kernel with stride 1 and no padding reads the input plane as the column matrix itself.
  bool pointwise() const { return r == 1 && s == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0; }
};

struct PoolShape {
  int64_t planes, h, w;  // input (N * C, H, W)
  int64_t p, q;          // output (N * C, P, Q)
  int64_t kernel, stride, pad;
};

}  // namespace resa::ops
