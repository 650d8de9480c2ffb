// A one-line progress bar for terminals (step, loss, lr, images/s, ETA), which becomes plain log lines
// when the output is not a terminal (CI logs, `| tee`), so nothing below apps/ prints.
#pragma once
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <fmt/format.h>

namespace resa::app {

class Progress {
 public:
  explicit Progress(int64_t total_steps, int64_t log_every = 20)
      : total_(total_steps), log_every_(log_every), tty_(isatty(fileno(stdout)) != 0) {}

  // Called after each step; `step` counts from 1.
  void update(int64_t step, int64_t epoch, double loss, double lr, double images_per_s) {
    double left = images_per_s > 0 && rate_steps_per_s(images_per_s) > 0
                      ? static_cast<double>(total_ - step) / rate_steps_per_s(images_per_s)
                      : 0.0;
    std::string line = fmt::format("epoch {:>3} step {:>6}/{} loss {:.4f} lr {:.4f} {:>7.1f} img/s ETA {}", epoch, step,
                                   total_, loss, lr, images_per_s, hms(left));
    if (tty_) {
      int width = 30;
      int filled = total_ > 0 ? static_cast<int>(width * step / total_) : 0;
      std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
      fmt::print("\r[{}] {}\x1b[K", bar, line);
      std::fflush(stdout);
    } else if (step % log_every_ == 0 || step == total_ || step == 1) {
      fmt::print("{}\n", line);
      std::fflush(stdout);
    }
  }
  void set_batch(int64_t batch) { batch_ = batch; }
  // Ends the bar's line before other output.
  void message(const std::string& s) {
    if (tty_) fmt::print("\r\x1b[K");
    fmt::print("{}\n", s);
    std::fflush(stdout);
  }

  static std::string hms(double seconds) {
    auto s = static_cast<int64_t>(seconds);
    return fmt::format("{:d}:{:02d}:{:02d}", s / 3600, (s / 60) % 60, s % 60);
  }

 private:
  double rate_steps_per_s(double images_per_s) const { return batch_ > 0 ? images_per_s / batch_ : 0; }
  int64_t total_, log_every_;
  int64_t batch_ = 0;
  bool tty_;
};

}  // namespace resa::app
