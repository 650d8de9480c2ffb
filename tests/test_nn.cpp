// Module system (names, state dicts, clone, to, summary) and each layer's forward and backward against
// PyTorch fixtures (tests/scripts/gen_nn.py); checkpoint/resume of a small model is bit-for-bit.
#include <filesystem>

#include "resa/nn/io/checkpoint.h"
#include "resa/nn/layers.h"
#include "resa/nn/mlp.h"
#include "resa/nn/optim/optimizer.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;
using namespace resa::nn;

namespace {

// Loads the fixture's "p.*" tensors into m, runs forward/backward with the fixture's upstream gradient,
// and checks y, dx, parameter grads and buffers after the step.
void check_layer(const std::string& name, Module& m, bool train = true, double tol = 2e-5) {
  auto fx = load_fixture(name);
  StateDict sd;
  for (auto& [k, t] : fx.tensors) {
    if (k.rfind("p.", 0) != 0) continue;
    Tensor v = t;
    if (k.find("num_batches_tracked") != std::string::npos) v = t.to(DType::Int64).reshape({});
    sd[k.substr(2)] = v;
  }
  m.load_state_dict(sd, true);
  m.train(train);
  Tensor x = fx.get("x").requires_grad_();
  Tensor y = m.forward(x);
  INFO(name);
  CHECK(max_rel_error(y, fx.get("y")) < tol);
  sum(y * fx.get("g")).backward();
  CHECK(max_rel_error(x.grad(), fx.get("dx")) < tol);
  for (auto& [k, p] : m.named_parameters()) {
    INFO("grad of " << k);
    CHECK(max_rel_error(p.grad(), fx.get("grad." + k)) < tol);
  }
  for (auto& [k, b] : m.named_buffers()) {
    INFO("buffer " << k);
    Tensor want = fx.get("after." + k, DType::Float64);
    CHECK(max_rel_error(b.to(DType::Float64).reshape(want.shape()), want) < tol);
  }
}

}  // namespace

TEST_CASE("Linear forward/backward match PyTorch") {
  Linear m(5, 3);
  check_layer("nn_linear", m);
}

TEST_CASE("Conv2d forward/backward match PyTorch") {
  Conv2d m(Conv2dLayerOptions(3, 4, 3).stride(2).padding(1));
  check_layer("nn_conv2d", m);
}

TEST_CASE("BatchNorm2d (train, eval) and BatchNorm1d (affine=False) match PyTorch, running stats included") {
  auto bn = BatchNorm2d(3);
  check_layer("nn_bn2d_train", *bn, true);
  CHECK(bn->buffer("num_batches_tracked").dtype() == DType::Int64);
  CHECK(bn->buffer("num_batches_tracked").item() == 1);
  auto bne = BatchNorm2d(3);
  check_layer("nn_bn2d_eval", *bne, false);
  CHECK(bne->buffer("num_batches_tracked").item() == 0);
  auto bn1 = BatchNorm1d(6, false);
  CHECK(bn1->named_parameters().empty());
  check_layer("nn_bn1d_noaffine", *bn1, true);
}

TEST_CASE("MaxPool2d and AdaptiveAvgPool2d (+ Flatten) match PyTorch") {
  MaxPool2d mp(3, 2, 1);
  check_layer("nn_maxpool", mp);
  AdaptiveAvgPool2d ap;
  check_layer("nn_avgpool", ap);
  Tensor x = randn({2, 3, 4, 5});
  CHECK(Flatten().forward(x).shape() == Shape{2, 60});
  CHECK(Identity().forward(x).same(x));
}

TEST_CASE("Projector 6-6-4 matches PyTorch, with the hidden activations") {
  auto fx = load_fixture("nn_projector");
  Projector m(5, fx.meta["spec"].get<std::string>());
  StateDict sd;
  for (auto& [k, t] : fx.tensors)
    if (k.rfind("p.", 0) == 0) sd[k.substr(2)] = t;
  // PyTorch's state dict also has num_batches_tracked for each BN; the fixture leaves the int ones out.
  auto res = m.load_state_dict(sd, false);
  CHECK(res.unexpected_keys.empty());
  CHECK(res.missing_keys ==
        std::vector<std::string>{"1.num_batches_tracked", "4.num_batches_tracked", "7.num_batches_tracked"});
  Tensor x = fx.get("x").requires_grad_();
  std::vector<Tensor> hidden;
  Tensor y = m.forward_with_hidden(x, &hidden);
  REQUIRE(hidden.size() == 2);
  CHECK(max_rel_error(hidden[0], fx.get("h0")) < 2e-5);
  CHECK(max_rel_error(hidden[1], fx.get("h1")) < 2e-5);
  CHECK(max_rel_error(y, fx.get("y")) < 2e-5);
  sum(y * fx.get("g")).backward();
  CHECK(max_rel_error(x.grad(), fx.get("dx")) < 2e-5);
  for (auto& [k, p] : m.named_parameters()) {
    INFO(k);
    // A bias right before batch norm has a zero gradient in exact arithmetic: compare on an absolute scale.
    double scale = std::max(1.0, max(abs(fx.get("grad." + k))).item());
    CHECK(max_abs_error(p.grad(), fx.get("grad." + k)) / scale < 2e-5);
  }
  CHECK(!m.has_param("7.weight"));  // final BN has affine=False
  CHECK(m.out_dim() == 4);
  CHECK(parse_mlp_spec("2048-2048-512") == std::vector<int64_t>{2048, 2048, 512});
  RESA_CHECK_THROWS_WITH_SUBSTR(parse_mlp_spec("2048--512"), "invalid MLP spec");
  RESA_CHECK_THROWS_WITH_SUBSTR(parse_mlp_spec("a-3"), "invalid MLP spec");
  auto pred = make_byol_predictor(8, 16, 8);
  CHECK(pred->named_parameters().size() == 6);  // 0.weight 0.bias 1.weight 1.bias 3.weight 3.bias
  CHECK(pred->named_parameters()[4].first == "3.weight");
}

TEST_CASE("default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for Linear weight and bias") {
  Generator g(7);
  Linear m(400, 300, true, &g);
  double bound = 1.0 / 20.0;
  auto w = m.weight().to_vector<double>();
  double mx = 0, sq = 0;
  for (double v : w) mx = std::max(mx, std::abs(v)), sq += v * v;
  CHECK(mx <= bound);
  CHECK(mx > 0.99 * bound);
  // variance of U(-b, b) is b^2 / 3; 120000 samples give ~0.5% relative noise
  CHECK(sq / w.size() == doctest::Approx(bound * bound / 3).epsilon(0.03));
  auto b = m.bias().to_vector<double>();
  for (double v : b) CHECK(std::abs(v) <= bound);
  Generator g2(7);
  Linear same(400, 300, true, &g2);
  CHECK(max_abs_error(same.weight(), m.weight()) == 0);  // seeded
}

TEST_CASE("module names, state_dict, strict loading errors, clone, zero_grad, summary") {
  auto net = std::make_shared<Sequential>(std::vector<ModulePtr>{
      std::make_shared<Linear>(4, 3), BatchNorm1d(3), std::make_shared<ReLU>(), std::make_shared<Linear>(3, 2, false)});
  std::vector<std::string> names;
  for (auto& [k, t] : net->named_parameters()) names.push_back(k);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "3.weight"});
  auto sd = net->state_dict();
  CHECK(sd.size() == 8);
  CHECK(sd.count("1.running_mean"));
  CHECK(sd.at("1.num_batches_tracked").dtype() == DType::Int64);
  CHECK(net->num_parameters() == 12 + 3 + 3 + 3 + 6);

  auto sd2 = sd;
  sd2.erase("0.bias");
  sd2["extra.weight"] = zeros({1});
  RESA_CHECK_THROWS_WITH_SUBSTR(net->load_state_dict(sd2), "missing keys [0.bias]");
  RESA_CHECK_THROWS_WITH_SUBSTR(net->load_state_dict(sd2), "unexpected keys [extra.weight]");
  auto sd3 = sd;
  sd3["3.weight"] = zeros({3, 2});
  RESA_CHECK_THROWS_WITH_SUBSTR(net->load_state_dict(sd3),
                                "size mismatch for '3.weight': the state dict has (3, 2), the module has (2, 3)");

  auto copy = net->clone();
  CHECK(copy->named_parameters().size() == 5);
  CHECK(!copy->named_parameters()[0].second.same(net->named_parameters()[0].second));
  CHECK(copy->named_parameters()[0].second.requires_grad());
  CHECK(max_abs_error(copy->named_parameters()[0].second, net->named_parameters()[0].second) == 0);
  copy->named_parameters()[0].second.fill_(0);
  CHECK(max_abs_error(net->named_parameters()[0].second, zeros({3, 4})) > 0);  // deep copy
  CHECK(dynamic_cast<Sequential*>(copy.get()) != nullptr);

  net->eval();
  CHECK(!net->is_training());
  CHECK(!(*net)[1]->is_training());
  net->train();
  Tensor x = randn({5, 4});
  sum(net->forward(x)).backward();
  CHECK(net->named_parameters()[0].second.grad().defined());
  net->zero_grad();
  CHECK(!net->named_parameters()[0].second.grad().defined());
  std::string s = net->summary();
  INFO(s);
  CHECK(s.find("0: Linear(in_features=4, out_features=3, bias=true)  [15 params]") != std::string::npos);
  CHECK(s.find(".running_var (3) buffer float32") != std::string::npos);
  CHECK(s.find("total: 27 parameters") != std::string::npos);
  RESA_CHECK_THROWS_WITH_SUBSTR(Linear(4, 3).forward(randn({2, 5})), "[Linear] expects (N, 4) input, got (2, 5)");
  net->to(kCPU);  // a no-op on the same device keeps the handles
}

TEST_CASE("checkpoint/resume: N steps + save + load + M steps equals N + M straight steps bit for bit") {
  auto make_model = [] {
    Generator g(11);
    return std::make_shared<Sequential>(std::vector<ModulePtr>{std::make_shared<Linear>(6, 8, true, &g), BatchNorm1d(8),
                                                               std::make_shared<ReLU>(),
                                                               std::make_shared<Linear>(8, 3, true, &g)});
  };
  auto make_opt = [](Module& m) {
    return std::make_unique<SGD>(
        split_decay_groups(m, ParamGroup().set_lr(0.1).set_momentum(0.9).set_weight_decay(1e-3)));
  };
  auto batch = [](int64_t step, Tensor* x, Tensor* t) {
    Generator g(1000 + static_cast<uint64_t>(step));
    *x = randn({10, 6}, {}, &g);
    *t = randn({10, 3}, {}, &g);
  };
  auto train = [&](Module& m, Optimizer& opt, int64_t from, int64_t to) {
    for (int64_t s = from; s < to; ++s) {
      Tensor x, t;
      batch(s, &x, &t);
      opt.zero_grad();
      mean(pow(m.forward(x) - t, 2.0)).backward();
      opt.step();
    }
  };
  const int64_t N = 7, M = 5;
  auto straight = make_model();
  auto so = make_opt(*straight);
  train(*straight, *so, 0, N + M);

  auto a = make_model();
  auto ao = make_opt(*a);
  train(*a, *ao, 0, N);
  std::string path = std::string(RESA_TEST_TMP) + "/resume.safetensors";
  Checkpoint c;
  c.put("model", a->state_dict());
  c.put("optim", ao->state_dict());
  c.step = N;
  save_checkpoint(path, c);
  // an older good checkpoint stays loadable when a later copy is truncated
  std::string trunc = path + ".truncated";
  std::filesystem::copy_file(path, trunc, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(trunc, std::filesystem::file_size(trunc) / 2);
  RESA_CHECK_THROWS_WITH_SUBSTR(load_checkpoint(trunc), "[safetensors]");

  Checkpoint r = load_checkpoint(path);
  auto b = make_model();
  // disturb b first so that a missed tensor shows
  for (auto& p : b->parameters()) p.fill_(0.5);
  b->load_state_dict(r.get("model"));
  auto bo = make_opt(*b);
  bo->load_state_dict(r.get("optim"));
  train(*b, *bo, r.step, N + M);
  auto ps = straight->state_dict();
  for (auto& [k, t] : b->state_dict()) {
    INFO(k);
    CHECK(max_abs_error(t.to(DType::Float64), ps.at(k).to(DType::Float64)) == 0.0);
  }
}
