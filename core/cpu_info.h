// What CPU a number was measured on: its model name and the widest vector instruction set it offers.
// Benchmarks print these next to their results.
#pragma once
#include <string>

namespace resa {

// The CPU's model name (/proc/cpuinfo "model name"), or "unknown CPU".
std::string cpu_model_name();
// The widest x86 vector ISA the CPU supports: "AVX-512" (F + BW + DQ + VL), "AVX2+FMA", "AVX", "SSE4.2",
// "SSE2", or "non-x86".
std::string cpu_vector_isa();

}  // namespace resa
