// Gradient check by central differences, in float64, for any differentiable function.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "resa/core/tensor.h"

namespace resa {

struct GradcheckOptions {
  RESA_OPTION(double, eps, 1e-6);
  RESA_OPTION(double, atol, 1e-6);
  RESA_OPTION(double, rtol, 1e-4);
  RESA_OPTION(uint64_t, seed, 1234);
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
