// Timing shared by the CPU benchmarks: the median of a set of times, and the median wall time of a
// function over timed runs after untimed warm-up runs.
#pragma once
#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace resa::app {

// The median (the mean of the two middle values for an even count); v must not be empty.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

// f run `warmup` times untimed, then `runs` times: the median time in ms.
inline double median_ms(int warmup, int runs, const std::function<void()>& f) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return median(std::move(t));
}

}  // namespace resa::app
