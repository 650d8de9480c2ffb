// Gradient check by central differences, in float64, for any differentiable function.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "resa/core/tensor.h"

namespace resa {

struct GradcheckOptions {
  double eps_ = 1e-6;
  double atol_ = 1e-6;
  double rtol_ = 1e-4;
  uint64_t seed_ = 1234;
  GradcheckOptions& eps(double v) { return set_field(*this, eps_, v); }
  GradcheckOptions& atol(double v) { return set_field(*this, atol_, v); }
  GradcheckOptions& rtol(double v) { return set_field(*this, rtol_, v); }
  GradcheckOptions& seed(uint64_t v) { return set_field(*this, seed_, v); }
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  std::string message;  // the first mismatch: input, element, analytic and numeric values
};

// Checks the gradient of L = sum(fn(inputs) * r) for a fixed random cotangent r against central
// differences of L, element by element, for every input that requires grad. Inputs must be float64
// CPU tensors; they are used as given (their .grad is reset).
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn, std::vector<Tensor> inputs,
                          const GradcheckOptions& opts = {});

}  // namespace resa
