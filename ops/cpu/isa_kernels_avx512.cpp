// The AVX-512 version of the hot loops (this file gets -mavx512f/bw/dq/vl, see CMakeLists.txt); see
// ops/cpu/isa.h.
#define RESA_ISA_NS avx512
#include "resa/ops/cpu/isa_kernels.h"
