// Fits y = 3x - 1 with the engine's autograd and prints the learned weights.
#include <fmt/core.h>
#include <resa/autograd/functions.h>

int main() {
  using namespace resa;
  Generator g(0);
  Tensor x = randn({64, 1}, {}, &g);
  Tensor y = x * 3.0 - 1.0;
  Tensor w = zeros({1, 1}, TensorOptions().requires_grad()), b = zeros({1}, TensorOptions().requires_grad());
  for (int i = 0; i < 200; ++i) {
    w.zero_grad();
    b.zero_grad();
    Tensor loss = mse_loss(linear(x, w, b), y);
    loss.backward();
    NoGradGuard ng;
    w.copy_(w.detach() - w.grad() * 0.1);
    b.copy_(b.detach() - b.grad() * 0.1);
  }
  fmt::print("w = {:.4f}, b = {:.4f}\n", w.item(), b.item());
  return std::abs(w.item() - 3.0) < 1e-3 && std::abs(b.item() + 1.0) < 1e-3 ? 0 : 1;
}
