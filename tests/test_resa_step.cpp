// One full ReSA training step (both variants) on fixed weights and inputs against PyTorch: the loss,
// the gradient of every parameter of the encoder and projector, and every parameter and batch-norm
// statistic after the SGD step (fixture: tests/scripts/gen_resa_step.py, model bench/resa_torch.py).
#include "resa/nn/mlp.h"
#include "resa/nn/optim/optimizer.h"
#include "resa/nn/resnet.h"
#include "resa/methods/resa.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;

namespace {
nn::StateDict with_prefix(const Fixture& fx, const std::string& prefix) {
  nn::StateDict sd;
  for (auto& [k, v] : fx.tensors)
    if (k.rfind(prefix, 0) == 0) sd[k.substr(prefix.size())] = v;
  return sd;
}

void run_step(const std::string& variant) {
  auto fx = load_fixture("resa_step");
  const int64_t width = fx.meta["width"];
  auto encoder = nn::make_resnet(nn::ResNetOptions()
                                     .arch("resnet_small")
                                     .in_channels(fx.meta["channels"])
                                     .width_multiplier(static_cast<double>(width) / 32.0));
  auto projector = nn::make_projector(encoder->feature_dim(), fx.meta["mlp"]);
  encoder->load_state_dict(with_prefix(fx, "encoder."), true);
  projector->load_state_dict(with_prefix(fx, "projector."), true);
  ReSA method(encoder, projector,
              ReSAOptions().momentum_teacher(variant == "momentum").loss(ReSALossOptions().tau(fx.meta["tau"])));
  method.train(true);
  std::vector<nn::ParamGroup> groups;
  for (auto& m : method.trainable())
    groups.push_back(nn::make_group(
        *m, nn::ParamGroup().set_lr(fx.meta["lr"]).set_weight_decay(fx.meta["wd"]).set_momentum(fx.meta["momentum"])));
  nn::SGD sgd(groups);

  MethodOutput out = method.forward({fx.get("view0"), fx.get("view1")}, StepContext{0, 100});
  CHECK(out.loss.item() == doctest::Approx(fx.get(variant + ".loss").item()).epsilon(1e-5));
  sgd.zero_grad();
  out.loss.backward();
  // A Linear bias followed by batch norm has a true gradient of 0: both sides hold float32 rounding
  // noise (~1e-7 against gradients of order 1), which is compared in absolute terms.
  double largest = 0;
  for (auto& [k, v] : fx.tensors)
    if (k.rfind(variant + ".grad.", 0) == 0) largest = std::max(largest, max(abs(v)).item());
  int checked = 0;
  for (auto& [prefix, m] : std::vector<std::pair<std::string, nn::ModulePtr>>{{"encoder.", encoder}, {"projector.", projector}})
    for (auto& [name, p] : m->named_parameters()) {
      INFO(variant << " grad of " << prefix << name);
      REQUIRE(p.grad().defined());
      Tensor ref = fx.get(variant + ".grad." + prefix + name);
      if (max(abs(ref)).item() < 1e-5 * largest)
        CHECK(max_abs_error(p.grad(), ref) < 1e-5 * largest);
      else
        CHECK(max_rel_error(p.grad(), ref) < 1e-4);
      ++checked;
    }
  sgd.step();
  for (auto& [prefix, m] : std::vector<std::pair<std::string, nn::ModulePtr>>{{"encoder.", encoder}, {"projector.", projector}})
    for (auto& [name, t] : m->state_dict()) {
      INFO(variant << " after step: " << prefix << name);
      Tensor ref = fx.get(variant + ".after." + prefix + name, t.dtype());
      if (t.dtype() == DType::Int64)
        CHECK(t.to_vector<int64_t>() == ref.to_vector<int64_t>());
      else
        CHECK(max_rel_error(t, ref) < 1e-5);
    }
  CHECK(checked > 30);
}
}  // namespace

TEST_CASE("one ReSA step with the EMA teacher equals PyTorch's") { run_step("momentum"); }
TEST_CASE("one momentum-free ReSA step equals PyTorch's") { run_step("no-momentum"); }
