// Thread count for our OpenMP loops and for the BLAS library, set together so they never oversubscribe.
#pragma once
#include <cstdint>

#include "resa/core/error.h"

namespace resa {

void set_num_threads(int n);
int get_num_threads();

// Thin wrappers so this header needs no <omp.h> of its own.
int omp_get_thread_num_wrapper();
int omp_get_num_threads_wrapper();

// Runs f(begin, end) over [0, n) split across threads when n * cost_per_item is large enough to pay.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
#ifdef _OPENMP
  if (n > grain && get_num_threads() > 1) {
    int nt = get_num_threads();
#pragma omp parallel num_threads(nt)
    {
      int tid = omp_get_thread_num_wrapper();
      int cnt = omp_get_num_threads_wrapper();
      int64_t chunk = (n + cnt - 1) / cnt;
      int64_t b = tid * chunk, e = b + chunk < n ? b + chunk : n;
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  if (n > 0) f(int64_t{0}, n);
}

}  // namespace resa
