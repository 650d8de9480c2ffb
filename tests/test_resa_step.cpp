// One full ReSA training step (both variants) on fixed weights and inputs against PyTorch: the loss,
// the gradient of every parameter of the encoder and projector, and every parameter and batch-norm
// statistic after the SGD step (fixture: tests/scripts/gen_resa_step.py, model bench/resa_torch.py).
//
// Two comparisons, with bounds that come from the arithmetic rather than from one machine:
// - float64 against PyTorch's float64 step: both sides round at ~1e-16, so whatever GEMM kernel,
//   summation order or ISA either side uses, they agree to ~1e-12; a bound of 1e-9 leaves a wide
//   margin and still catches any wrong formula.
// - float32 against PyTorch's float32 step: each side differs from the exact step by its own float32
//   rounding, which depends on the kernels (OpenBLAS picks them per CPU); the bounds below are sums of
//   those rounding budgets (see each check).
#include "resa/methods/resa.h"
#include "resa/nn/mlp.h"
#include "resa/nn/optim/optimizer.h"
#include "resa/nn/resnet.h"
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

void run_step(const std::string& variant, DType dtype) {
  auto fx = load_fixture("resa_step");
  const bool f64 = dtype == DType::Float64;
  const std::string ref_prefix = (f64 ? "f64." : "") + variant;
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
  if (f64)
    for (auto& [name, m] : method.modules()) m->to(DType::Float64);  // the teacher's copies too
  method.train(true);
  std::vector<nn::ParamGroup> groups;
  for (auto& m : method.trainable())
    groups.push_back(nn::make_group(
        *m, nn::ParamGroup().set_lr(fx.meta["lr"]).set_weight_decay(fx.meta["wd"]).set_momentum(fx.meta["momentum"])));
  nn::SGD sgd(groups);

  MethodOutput out = method.forward({fx.get("view0", dtype), fx.get("view1", dtype)}, StepContext{0, 100});
  // float32: a loss of order 3 summed over 6x6 logits and a Sinkhorn of 3 iterations, ~1e-6 relative
  // rounding on each side.
  CHECK(out.loss.item() ==
        doctest::Approx(fx.get(ref_prefix + ".loss", DType::Float64).item()).epsilon(f64 ? 1e-12 : 1e-5));
  sgd.zero_grad();
  out.loss.backward();
  // A Linear bias followed by batch norm has a true gradient of 0: both sides hold float32 rounding
  // noise (~1e-7 against gradients of order 1), which is compared in absolute terms.
  double largest = 0;
  for (auto& [k, v] : fx.tensors)
    if (k.rfind(ref_prefix + ".grad.", 0) == 0) largest = std::max(largest, max(abs(v)).item());
  // float32 gradients: relative 1e-4 of the largest element of each tensor (both sides' rounding through
  // ~10 layers of backward with sums of up to a few hundred terms, ~1e-5 each); float64: 1e-9.
  const double grad_tol = f64 ? 1e-9 : 1e-4, zero_grad_tol = f64 ? 1e-9 : 1e-5;
  int checked = 0;
  for (auto& [prefix, m] :
       std::vector<std::pair<std::string, nn::ModulePtr>>{{"encoder.", encoder}, {"projector.", projector}})
    for (auto& [name, p] : m->named_parameters()) {
      INFO(variant << " grad of " << prefix << name);
      REQUIRE(p.grad().defined());
      Tensor ref = fx.get(ref_prefix + ".grad." + prefix + name, dtype);
      if (max(abs(ref)).item() < zero_grad_tol * largest)
        CHECK(max_abs_error(p.grad(), ref) < zero_grad_tol * largest);
      else
        CHECK(max_rel_error(p.grad(), ref) < grad_tol);
      ++checked;
    }
  sgd.step();
  const double lr = fx.meta["lr"];
  for (auto& [prefix, m] :
       std::vector<std::pair<std::string, nn::ModulePtr>>{{"encoder.", encoder}, {"projector.", projector}})
    for (auto& [name, t] : m->state_dict()) {
      INFO(variant << " after step: " << prefix << name);
      Tensor ref = fx.get(ref_prefix + ".after." + prefix + name, t.dtype());
      if (t.dtype() == DType::Int64) {
        CHECK(t.to_vector<int64_t>() == ref.to_vector<int64_t>());
      } else if (f64) {
        CHECK(max_rel_error(t, ref) < 1e-9);
      } else {
        // p' = p - lr (g + wd p) at the first step: the gradient's error bound, scaled by lr, plus the
        // rounding of the update itself (a few ulps of |p|). Batch-norm statistics (buffers) come from
        // the forward pass alone: relative 1e-5 (means and variances over at most a few hundred values).
        Tensor g_ref;
        if (fx.tensors.count(ref_prefix + ".grad." + prefix + name))
          g_ref = fx.get(ref_prefix + ".grad." + prefix + name);
        const double scale = max(abs(ref)).item();
        const double bound =
            g_ref.defined()
                ? lr * std::max(grad_tol * max(abs(g_ref)).item(), zero_grad_tol * largest) + 4 * 1.2e-7 * scale
                : 1e-5 * std::max(scale, 1e-30);
        INFO("bound " << bound << " (largest |ref| " << scale << ")");
        CHECK(max_abs_error(t, ref) < bound);
      }
    }
  CHECK(checked > 30);
}
}  // namespace

TEST_CASE("one ReSA step with the EMA teacher equals PyTorch's (float32)") { run_step("momentum", DType::Float32); }
TEST_CASE("one momentum-free ReSA step equals PyTorch's (float32)") { run_step("no-momentum", DType::Float32); }
TEST_CASE("one ReSA step with the EMA teacher equals PyTorch's (float64)") { run_step("momentum", DType::Float64); }
TEST_CASE("one momentum-free ReSA step equals PyTorch's (float64)") { run_step("no-momentum", DType::Float64); }
