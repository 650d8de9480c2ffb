// The AVX2 version of the hot loops (this file gets -mavx2, see CMakeLists.txt); see ops/cpu/isa.h.
#define RESA_ISA_NS avx2
#include "resa/ops/cpu/isa_kernels.h"
