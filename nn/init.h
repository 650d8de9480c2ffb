// Weight initialisers with PyTorch's formulas (torch.nn.init), drawing from a resa Generator. They
// fill in place and are never recorded.
#pragma once
#include "resa/core/rng.h"
#include "resa/core/tensor.h"

namespace resa::nn::init {

// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (as torch.nn.init).
int64_t fan_in(const Tensor& w);
int64_t fan_out(const Tensor& w);

void uniform_(Tensor& t, double low, double high, Generator* gen = nullptr);
void normal_(Tensor& t, double mean, double std, Generator* gen = nullptr);
// bound = gain * sqrt(3 / fan), gain = sqrt(2 / (1 + a^2)) for leaky_relu (a = 0 is relu).
void kaiming_uniform_(Tensor& w, double a, bool use_fan_in, Generator* gen = nullptr);
// std = gain / sqrt(fan), gain as above.
void kaiming_normal_(Tensor& w, double a, bool use_fan_in, Generator* gen = nullptr);
// PyTorch's default for Linear and Conv2d: kaiming_uniform(a = sqrt(5)) on the weight, i.e.
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
void default_linear_init_(Tensor& w, Tensor* b, Generator* gen = nullptr);

}  // namespace resa::nn::init
