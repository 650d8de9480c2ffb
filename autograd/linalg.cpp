#include "resa/autograd/linalg.h"

#include "resa/autograd/elementwise.h"
#include "resa/autograd/engine.h"
#include "resa/ops/linalg.h"

namespace resa {

using autograd::record;

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  // numpy's rules for 1-D operands: a vector on the left is a row, on the right a column; the
  // added dim is removed from the result.
  if (a_in.dim() == 1 && b_in.dim() == 1) return matmul(a_in.unsqueeze(0), b_in.unsqueeze(1)).reshape({});
  if (a_in.dim() == 1) return matmul(a_in.unsqueeze(0), b_in).squeeze(-2);
  if (b_in.dim() == 1) return matmul(a_in, b_in.unsqueeze(1)).squeeze(-1);
  bool ra = a_in.requires_grad(), rb = b_in.requires_grad();
  return record(ops::matmul(a_in, b_in), "matmul", {a_in, b_in},
                [ad = a_in.detach(), bd = b_in.detach(), ra, rb](const Tensor& g) {
                  // dA = g B^T, dB = A^T g, summed over broadcast batch dims.
                  Tensor ga, gb;
                  if (ra) ga = sum_to(ops::matmul(g, bd.transpose(-1, -2)), ad.shape());
                  if (rb) gb = sum_to(ops::matmul(ad.transpose(-1, -2), g), bd.shape());
                  return std::vector<Tensor>{ga, gb};
                });
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor y = matmul(x, w.t());
  return b.defined() ? add(y, b) : y;
}

}  // namespace resa
