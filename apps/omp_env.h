// Idle OpenMP threads spin by default (libgomp), and on a small machine they then steal the cores the
// data loader's threads need: measured here, a small-ResNet step took 13.9 s with spinning threads and
// 2.8 s with OMP_WAIT_POLICY=passive. libgomp reads the variable once, when it loads, so a program that
// was started without it sets it and re-executes itself before doing anything else.
#pragma once
#include <unistd.h>

#include <cstdlib>

namespace resa::app {

inline void ensure_passive_openmp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;  // the user's choice (or our re-exec) stands
  setenv("OMP_WAIT_POLICY", "passive", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then carry on with the default policy
}

}  // namespace resa::app
