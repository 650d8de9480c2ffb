// Per-step schedules in closed form (no state, so resuming at any step gives the same value).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "resa/core/error.h"

namespace resa::nn {

// Linear warm-up from `warmup_start` to `base` over steps [0, warmup_steps), then a cosine from `base`
// at step warmup_steps to `final_value` at step total_steps (held after):
//   s < W:  start + (base - start) * s / W            (warmup_endpoint: s / (W - 1), so step W-1 is at base)
//   s >= W: final + (base - final) * (1 + cos(pi * min(s - W, T - W) / (T - W))) / 2
// warmup_endpoint is the official ReSA schedule (src/utils.py cosine_scheduler: a numpy linspace from
// start to base over W steps, both ends included, followed by the cosine).
struct WarmupCosine {
  double base = 0.1;
  double final_value = 0.0;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double warmup_start = 0.0;
  bool warmup_endpoint = false;

  double operator()(int64_t step) const {
    RESA_CHECK(total_steps > 0 && warmup_steps >= 0 && warmup_steps <= total_steps,
               "[WarmupCosine] need 0 <= warmup_steps ({}) <= total_steps ({}) and total_steps > 0", warmup_steps,
               total_steps);
    if (step < warmup_steps) {
      // linspace(start, base, W) with W = 1 is [start]
      const int64_t denom = warmup_endpoint ? warmup_steps - 1 : warmup_steps;
      if (denom == 0) return warmup_start;
      return warmup_start + (base - warmup_start) * static_cast<double>(step) / static_cast<double>(denom);
    }
    int64_t span = total_steps - warmup_steps;
    if (span == 0) return final_value;
    double t = static_cast<double>(std::min(step - warmup_steps, span)) / static_cast<double>(span);
    return final_value + (base - final_value) * 0.5 * (1.0 + std::cos(M_PI * t));
  }
};

// The EMA teacher's momentum (BYOL): m(s) = 1 - (1 - base) * (1 + cos(pi * s / T)) / 2, from base
// (0.996) at step 0 to 1 at step T (held after).
inline double cosine_momentum(int64_t step, int64_t total_steps, double base = 0.996) {
  RESA_CHECK(total_steps > 0, "[cosine_momentum] total_steps must be positive, got {}", total_steps);
  double t = static_cast<double>(std::min(step, total_steps)) / static_cast<double>(total_steps);
  return 1.0 - (1.0 - base) * 0.5 * (1.0 + std::cos(M_PI * t));
}

}  // namespace resa::nn
