// Shapes and strides (in elements, row-major by default).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "resa/core/error.h"

namespace resa {

using Shape = std::vector<int64_t>;

inline int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

inline Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

inline std::string shape_str(const Shape& s) { return fmt::format("({})", fmt::join(s, ", ")); }

// Wraps a possibly negative dim into [0, ndim); `op` names the caller in the error.
inline int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t d = dim < 0 ? dim + ndim : dim;
  RESA_CHECK(d >= 0 && d < ndim, "[{}] dim {} is out of range for a tensor of {} dims", op, dim, ndim);
  return d;
}

// The broadcast shape of a and b (numpy rules), or an error naming `op` and both shapes.
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    RESA_CHECK(da == db || da == 1 || db == 1, "[{}] shapes {} and {} cannot be broadcast together", op, shape_str(a),
               shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace resa
