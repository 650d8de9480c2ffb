// Optimizers (SGD, LARS, Adam, AdamW) against trajectories computed by torch.optim (LARS: the same
// formula in tests/scripts/gen_nn.py), schedules against their closed forms, EMA against its formula,
// and optimizer state save/load.
#include <cmath>

#include "resa/nn/ema.h"
#include "resa/nn/layers.h"
#include "resa/nn/optim/optimizer.h"
#include "resa/nn/optim/schedule.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;
using namespace resa::nn;

namespace {

// The loss of gen_nn.py: sum_p sum(c (p - 0.5)^2) + 0.1 sum(p^4).
Tensor loss_fn(const std::vector<Tensor>& ps, const std::vector<Tensor>& cs) {
  Tensor l;
  for (size_t i = 0; i < ps.size(); ++i) {
    Tensor t = sum(cs[i] * pow(ps[i] - 0.5, 2.0)) + sum(pow(ps[i], 4.0)) * 0.1;
    l = l.defined() ? l + t : t;
  }
  return l;
}

template <typename MakeOpt>
void check_trajectory(const std::string& name, MakeOpt make, double tol = 1e-10) {
  auto fx = load_fixture(name);
  std::vector<Tensor> ps = {fx.get("w0", DType::Float64).clone().requires_grad_(),
                            fx.get("b0", DType::Float64).clone().requires_grad_()};
  std::vector<Tensor> cs = {fx.get("cw", DType::Float64), fx.get("cb", DType::Float64)};
  auto opt = make(ps);
  Tensor wt = fx.get("w_traj", DType::Float64), bt = fx.get("b_traj", DType::Float64);
  int64_t steps = fx.meta["steps"];
  for (int64_t s = 0; s < steps; ++s) {
    opt->zero_grad();
    loss_fn(ps, cs).backward();
    opt->step();
    INFO(name << " step " << s);
    CHECK(max_rel_error(ps[0], wt.select(0, s)) < tol);
    CHECK(max_rel_error(ps[1], bt.select(0, s)) < tol);
  }
}

std::vector<ParamGroup> one_group(const std::vector<Tensor>& ps, ParamGroup g) {
  g.params = ps;
  return {g};
}

}  // namespace

TEST_CASE("SGD with momentum and weight decay follows torch.optim.SGD for 20 steps") {
  check_trajectory("nn_optim_sgd_momentum", [](auto& ps) {
    return std::make_unique<SGD>(one_group(ps, ParamGroup().set_lr(0.05).set_momentum(0.9).set_weight_decay(1e-2)));
  });
}

TEST_CASE("SGD nesterov follows torch.optim.SGD") {
  check_trajectory("nn_optim_sgd_nesterov", [](auto& ps) {
    return std::make_unique<SGD>(
        one_group(ps, ParamGroup().set_lr(0.05).set_momentum(0.9).set_nesterov(true).set_weight_decay(5e-4)));
  });
}

TEST_CASE("SGD with dampening follows torch.optim.SGD") {
  check_trajectory("nn_optim_sgd_dampening", [](auto& ps) {
    return std::make_unique<SGD>(one_group(ps, ParamGroup().set_lr(0.05).set_momentum(0.8).set_dampening(0.3)));
  });
}

TEST_CASE("LARS follows the reference formula (1-D parameters excluded)") {
  check_trajectory("nn_optim_lars", [](auto& ps) {
    return std::make_unique<LARS>(
        one_group(ps, ParamGroup().set_lr(0.1).set_momentum(0.9).set_weight_decay(1e-2).set_trust_coefficient(0.1)));
  });
}

TEST_CASE("Adam and AdamW follow torch.optim") {
  check_trajectory("nn_optim_adam", [](auto& ps) {
    return std::make_unique<Adam>(one_group(ps, ParamGroup().set_lr(0.05).set_betas(0.9, 0.99).set_weight_decay(1e-2)));
  });
  check_trajectory("nn_optim_adamw", [](auto& ps) {
    return std::make_unique<AdamW>(
        one_group(ps, ParamGroup().set_lr(0.05).set_betas(0.85, 0.995).set_weight_decay(0.1)));
  });
}

TEST_CASE("optimizer state round-trips: a restored optimizer continues the same trajectory") {
  auto fx = load_fixture("nn_optim_adam");
  std::vector<Tensor> cs = {fx.get("cw", DType::Float64), fx.get("cb", DType::Float64)};
  auto run = [&](std::vector<Tensor>& ps, Optimizer& opt, int n) {
    for (int s = 0; s < n; ++s) {
      opt.zero_grad();
      loss_fn(ps, cs).backward();
      opt.step();
    }
  };
  for (int kind = 0; kind < 3; ++kind) {
    auto make = [&](std::vector<Tensor>& ps) -> std::unique_ptr<Optimizer> {
      auto g = one_group(ps, ParamGroup().set_lr(0.05).set_momentum(0.9).set_weight_decay(1e-3));
      if (kind == 0) return std::make_unique<SGD>(g);
      if (kind == 1) return std::make_unique<LARS>(g);
      return std::make_unique<Adam>(g);
    };
    std::vector<Tensor> a = {fx.get("w0", DType::Float64).clone().requires_grad_(),
                             fx.get("b0", DType::Float64).clone().requires_grad_()};
    auto oa = make(a);
    run(a, *oa, 5);
    auto sd = oa->state_dict();
    CHECK(sd.size() >= 2);
    std::vector<Tensor> b = {a[0].detach().clone().requires_grad_(), a[1].detach().clone().requires_grad_()};
    auto ob = make(b);
    ob->load_state_dict(sd);
    run(a, *oa, 4);
    run(b, *ob, 4);
    CHECK(max_abs_error(a[0], b[0]) == 0.0);
    CHECK(max_abs_error(a[1], b[1]) == 0.0);
  }
  std::vector<Tensor> p = {zeros({3}, TensorOptions().requires_grad())};
  SGD sgd(one_group(p, ParamGroup().set_momentum(0.9)));
  RESA_CHECK_THROWS_WITH_SUBSTR(sgd.load_state_dict({{"0.5.momentum_buffer", zeros({3})}}), "does not exist");
  RESA_CHECK_THROWS_WITH_SUBSTR(sgd.load_state_dict({{"0.0.momentum_buffer", zeros({4})}}), "shape");
  RESA_CHECK_THROWS_WITH_SUBSTR(SGD(one_group(p, ParamGroup().set_nesterov(true))), "nesterov");
}

TEST_CASE("split_decay_groups puts biases in a group without weight decay, excluded from LARS") {
  Sequential m({std::make_shared<Linear>(4, 3), std::make_shared<Linear>(3, 2)});
  auto groups = split_decay_groups(m, ParamGroup().set_lr(0.3).set_weight_decay(1e-4));
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].names == std::vector<std::string>{"0.weight", "1.weight"});
  CHECK(groups[1].names == std::vector<std::string>{"0.bias", "1.bias"});
  CHECK(groups[0].weight_decay == 1e-4);
  CHECK(groups[1].weight_decay == 0.0);
  CHECK(groups[1].lars_exclude);
}

TEST_CASE("warm-up cosine schedule matches its closed form") {
  WarmupCosine s{.base = 0.6, .final_value = 0.06, .warmup_steps = 10, .total_steps = 110, .warmup_start = 0.0};
  CHECK(s(0) == 0.0);
  CHECK(s(5) == doctest::Approx(0.3).epsilon(1e-15));
  CHECK(s(10) == doctest::Approx(0.6).epsilon(1e-15));
  CHECK(s(60) == doctest::Approx(0.33).epsilon(1e-14));  // half-way: (base + final) / 2
  CHECK(s(110) == doctest::Approx(0.06).epsilon(1e-15));
  CHECK(s(500) == doctest::Approx(0.06).epsilon(1e-15));
  for (int64_t k = 0; k <= 100; k += 7) {
    double expect = 0.06 + 0.54 * 0.5 * (1 + std::cos(M_PI * k / 100.0));
    CHECK(s(10 + k) == doctest::Approx(expect).epsilon(1e-14));
  }
  // cos(pi/4) and cos(3 pi/4) exactly
  CHECK(s(35) == doctest::Approx(0.06 + 0.54 * 0.5 * (1 + std::sqrt(0.5))).epsilon(1e-14));
  CHECK(s(85) == doctest::Approx(0.06 + 0.54 * 0.5 * (1 - std::sqrt(0.5))).epsilon(1e-14));
}

TEST_CASE("warm-up with the endpoint: the official linspace(0, base, W) then the cosine") {
  // numpy.linspace(0, 0.6, 10)[k] = 0.6 * k / 9: step 0 at 0, step 9 (the last warm-up step) at base.
  WarmupCosine s{.base = 0.6,
                 .final_value = 0.06,
                 .warmup_steps = 10,
                 .total_steps = 110,
                 .warmup_start = 0.0,
                 .warmup_endpoint = true};
  CHECK(s(0) == 0.0);
  CHECK(s(3) == doctest::Approx(0.2).epsilon(1e-15));
  CHECK(s(9) == doctest::Approx(0.6).epsilon(1e-15));
  CHECK(s(10) == doctest::Approx(0.6).epsilon(1e-15));
  CHECK(s(60) == doctest::Approx(0.33).epsilon(1e-14));
  WarmupCosine one{.base = 0.6, .final_value = 0.06, .warmup_steps = 1, .total_steps = 10, .warmup_endpoint = true};
  CHECK(one(0) == 0.0);  // linspace(0, base, 1) == [0]
  CHECK(one(1) == doctest::Approx(0.6).epsilon(1e-15));
}

TEST_CASE("cosine EMA momentum goes 0.996 -> 1") {
  CHECK(cosine_momentum(0, 100) == doctest::Approx(0.996).epsilon(1e-15));
  CHECK(cosine_momentum(50, 100) == doctest::Approx(0.998).epsilon(1e-15));
  CHECK(cosine_momentum(100, 100) == 1.0);
  CHECK(cosine_momentum(200, 100) == 1.0);
}

TEST_CASE("ema_update blends parameters and copies buffers") {
  Generator g1(1), g2(2);
  auto student = std::make_shared<Linear>(3, 2, true, &g1);
  auto teacher = clone_as(student);
  auto other = std::make_shared<Linear>(3, 2, true, &g2);
  // teacher starts as a copy; move the student elsewhere
  student->load_state_dict(other->state_dict());
  auto t0 = teacher->weight().detach().clone();
  ema_update(*teacher, *student, 0.9);
  auto expect = t0 * 0.9 + other->weight().detach() * 0.1;
  CHECK(max_abs_error(teacher->weight(), expect) < 1e-7);
  CHECK(!teacher->weight().same(student->weight()));
  auto lin4 = std::make_shared<Linear>(4, 2);
  RESA_CHECK_THROWS_WITH_SUBSTR(ema_update(*lin4, *student, 0.9), "does not match");
}

TEST_CASE("cuda: Module::to, SGD / LARS / Adam steps and EMA on the GPU match the CPU") {
  if (!cuda_available()) {
    MESSAGE("no CUDA device: skipped");
    return;
  }
  for (int kind = 0; kind < 4; ++kind) {
    auto make_net = [] {
      Generator g(5);
      return std::make_shared<Sequential>(std::vector<ModulePtr>{std::make_shared<Linear>(5, 4, true, &g),
                                                                 std::make_shared<ReLU>(),
                                                                 std::make_shared<Linear>(4, 3, true, &g)});
    };
    auto cpu = make_net(), gpu = make_net();
    Tensor handle = gpu->named_parameters()[0].second;
    gpu->to(cuda_device());
    CHECK(handle.device().is_cuda());  // moved in place: the same handle now lives on the GPU
    auto make_opt = [&](Module& m) -> std::unique_ptr<Optimizer> {
      auto g = split_decay_groups(m, ParamGroup().set_lr(0.05).set_momentum(0.9).set_weight_decay(1e-2));
      if (kind == 0) return std::make_unique<SGD>(g);
      if (kind == 1) return std::make_unique<LARS>(g);
      if (kind == 2) return std::make_unique<Adam>(g);
      return std::make_unique<AdamW>(g);
    };
    auto oc = make_opt(*cpu), og = make_opt(*gpu);
    for (int s = 0; s < 5; ++s) {
      Generator gx(100 + s);
      Tensor x = randn({6, 5}, {}, &gx);
      for (auto [m, o, xd] :
           {std::tuple{cpu.get(), oc.get(), x}, std::tuple{gpu.get(), og.get(), x.to(cuda_device())}}) {
        o->zero_grad();
        mean(pow(m->forward(xd), 2.0)).backward();
        o->step();
      }
    }
    auto pc = cpu->named_parameters(), pg = gpu->named_parameters();
    for (size_t i = 0; i < pc.size(); ++i) {
      INFO("optimizer " << kind << " " << pc[i].first);
      CHECK(pg[i].second.device().is_cuda());
      CHECK(max_rel_error(pg[i].second.to(kCPU), pc[i].second) < 1e-5);
    }
    auto tc = clone_as(cpu), tg = clone_as(gpu);
    CHECK(tg->named_parameters()[0].second.device().is_cuda());
    ema_update(*tc, *make_net(), 0.7);
    auto fresh = make_net();
    fresh->to(cuda_device());
    ema_update(*tg, *fresh, 0.7);
    CHECK(max_rel_error(tg->named_parameters()[0].second.to(kCPU), tc->named_parameters()[0].second) < 1e-5);
  }
}
