#include "resa/nn/mlp.h"

#include <cctype>

namespace resa::nn {

std::vector<int64_t> parse_mlp_spec(const std::string& spec) {
  std::vector<int64_t> out;
  size_t i = 0;
  while (i <= spec.size()) {
    size_t j = spec.find('-', i);
    if (j == std::string::npos) j = spec.size();
    std::string tok = spec.substr(i, j - i);
    bool digits = !tok.empty() && tok.size() < 10;
    for (char c : tok) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    RESA_CHECK(digits && std::stoll(tok) > 0, "[Projector] invalid MLP spec '{}' (expected sizes like 2048-2048-512)",
               spec);
    out.push_back(std::stoll(tok));
    i = j + 1;
  }
  return out;
}

Projector::Projector(int64_t in_dim, const std::string& spec, bool last_bn, bool bias, Generator* gen)
    : Cloneable("Projector"), sizes_(parse_mlp_spec(spec)), last_bn_(last_bn) {
  RESA_CHECK(in_dim > 0, "[Projector] input dim must be positive, got {}", in_dim);
  int64_t idx = 0, prev = in_dim;
  auto add = [&](ModulePtr m) { register_module(std::to_string(idx++), std::move(m)); };
  for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
    add(std::make_shared<Linear>(prev, sizes_[l], bias, gen));
    add(BatchNorm1d(sizes_[l]));
    add(std::make_shared<ReLU>());
    prev = sizes_[l];
  }
  add(std::make_shared<Linear>(prev, sizes_.back(), bias, gen));
  if (last_bn) add(BatchNorm1d(sizes_.back(), /*affine=*/false));
}

Tensor Projector::forward_with_hidden(const Tensor& x, std::vector<Tensor>* hidden) {
  if (hidden) hidden->clear();
  Tensor h = x;
  for (auto& [n, m] : children()) {
    h = m->forward(h);
    if (hidden && dynamic_cast<ReLU*>(m.get())) hidden->push_back(h);
  }
  return h;
}

Tensor Projector::forward(const Tensor& x) { return forward_with_hidden(x, nullptr); }

std::shared_ptr<Projector> make_projector(int64_t in_dim, const std::string& spec, Generator* gen) {
  return std::make_shared<Projector>(in_dim, spec, true, true, gen);
}

std::shared_ptr<Sequential> make_byol_predictor(int64_t in_dim, int64_t hidden_dim, int64_t out_dim, Generator* gen) {
  return std::make_shared<Sequential>(std::vector<ModulePtr>{std::make_shared<Linear>(in_dim, hidden_dim, true, gen),
                                                             BatchNorm1d(hidden_dim), std::make_shared<ReLU>(),
                                                             std::make_shared<Linear>(hidden_dim, out_dim, true, gen)});
}

}  // namespace resa::nn
