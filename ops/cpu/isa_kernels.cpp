// The baseline (x86-64, SSE2) version of the hot loops; see ops/cpu/isa.h.
#define RESA_ISA_NS baseline
#include "resa/ops/cpu/isa_kernels.h"
