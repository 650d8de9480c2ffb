// Projection heads. The ReSA projector (as the official code): for a spec "2048-2048-512" and input
// dim D, (Linear(D, 2048), BatchNorm1d, ReLU), (Linear(2048, 2048), BatchNorm1d, ReLU),
// Linear(2048, 512), BatchNorm1d(512, affine=False). Children are named as an nn.Sequential of those
// modules ("0.weight", "1.running_mean", ..., "6.weight", "7.running_var").
#pragma once
#include <string>
#include <vector>

#include "resa/nn/layers.h"

namespace resa::nn {

// "2048-2048-512" -> {2048, 2048, 512}; throws on anything else than positive integers joined by '-'.
std::vector<int64_t> parse_mlp_spec(const std::string& spec);

class Projector : public Cloneable<Projector> {
 public:
  // last_bn: the final BatchNorm1d(affine=False) of the ReSA projector (off for a plain MLP head).
  Projector(int64_t in_dim, const std::string& spec, bool last_bn = true, bool bias = true, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  // The output and the activation after each hidden (Linear, BN, ReLU) block: hidden[0] = P0, ...
  Tensor forward_with_hidden(const Tensor& x, std::vector<Tensor>* hidden);
  int64_t out_dim() const { return sizes_.back(); }
  const std::vector<int64_t>& sizes() const { return sizes_; }

 private:
  std::vector<int64_t> sizes_;
  bool last_bn_;
};

std::shared_ptr<Projector> make_projector(int64_t in_dim, const std::string& spec, Generator* gen = nullptr);
// BYOL's predictor: Linear(in, hidden) - BatchNorm1d - ReLU - Linear(hidden, out), as a Sequential.
std::shared_ptr<Sequential> make_byol_predictor(int64_t in_dim, int64_t hidden_dim, int64_t out_dim,
                                                Generator* gen = nullptr);

}  // namespace resa::nn
