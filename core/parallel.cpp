#include "resa/core/parallel.h"

#include <algorithm>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

// OpenBLAS's own setter; declared here so that no BLAS header is needed in core/.
extern "C" void openblas_set_num_threads(int);

namespace resa {
namespace {
int initial_threads() {
#ifdef _OPENMP
  return std::max(1, omp_get_max_threads());
#else
  return 1;
#endif
}
int g_threads = initial_threads();
}  // namespace

void set_num_threads(int n) {
  RESA_CHECK(n >= 1, "[set_num_threads] thread count must be at least 1, got {}", n);
  g_threads = n;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  openblas_set_num_threads(n);
}

int get_num_threads() { return g_threads; }

int omp_get_thread_num_wrapper() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}
int omp_get_num_threads_wrapper() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

}  // namespace resa
