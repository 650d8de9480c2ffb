#include "resa/nn/init.h"

#include <cmath>

#include "resa/autograd/engine.h"

namespace resa::nn::init {

namespace {
int64_t receptive(const Tensor& w) {
  int64_t r = 1;
  for (int64_t d = 2; d < w.dim(); ++d) r *= w.size(d);
  return r;
}
Generator* gen_or_default(Generator* g) { return g ? g : &default_generator(); }
}  // namespace

int64_t fan_in(const Tensor& w) {
  RESA_CHECK(w.dim() >= 2, "[init] fan_in needs a tensor of at least 2 dims, got {}", shape_str(w.shape()));
  return w.size(1) * receptive(w);
}
int64_t fan_out(const Tensor& w) {
  RESA_CHECK(w.dim() >= 2, "[init] fan_out needs a tensor of at least 2 dims, got {}", shape_str(w.shape()));
  return w.size(0) * receptive(w);
}

void uniform_(Tensor& t, double low, double high, Generator* gen) {
  NoGradGuard ng;
  t.copy_(uniform(t.shape(), low, high, TensorOptions().dtype(t.dtype()), gen_or_default(gen)));
}

void normal_(Tensor& t, double mean, double std, Generator* gen) {
  NoGradGuard ng;
  t.copy_(normal(t.shape(), mean, std, TensorOptions().dtype(t.dtype()), gen_or_default(gen)));
}

void kaiming_uniform_(Tensor& w, double a, bool use_fan_in, Generator* gen) {
  double gain = std::sqrt(2.0 / (1.0 + a * a));
  double bound = gain * std::sqrt(3.0 / static_cast<double>(use_fan_in ? fan_in(w) : fan_out(w)));
  uniform_(w, -bound, bound, gen);
}

void kaiming_normal_(Tensor& w, double a, bool use_fan_in, Generator* gen) {
  double gain = std::sqrt(2.0 / (1.0 + a * a));
  normal_(w, 0.0, gain / std::sqrt(static_cast<double>(use_fan_in ? fan_in(w) : fan_out(w))), gen);
}

void default_linear_init_(Tensor& w, Tensor* b, Generator* gen) {
  kaiming_uniform_(w, std::sqrt(5.0), true, gen);
  if (b && b->defined()) {
    double bound = 1.0 / std::sqrt(static_cast<double>(fan_in(w)));
    uniform_(*b, -bound, bound, gen);
  }
}

}  // namespace resa::nn::init
