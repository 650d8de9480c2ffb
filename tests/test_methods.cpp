// The baselines (SimCLR, BYOL, SwAV, VICReg): each loss and its gradients against PyTorch
// (tests/scripts/gen_methods.py), float64 gradient checks of each loss, a few training steps of each
// method on a tiny model, and (when Fashion-MNIST is installed) a falling loss on real images.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>

#include "resa/data/augment.h"
#include "resa/data/dataset.h"
#include "resa/methods/byol.h"
#include "resa/methods/factory.h"
#include "resa/methods/simclr.h"
#include "resa/methods/swav.h"
#include "resa/methods/vicreg.h"
#include "resa/nn/mlp.h"
#include "resa/nn/optim/optimizer.h"
#include "resa/nn/resnet.h"
#include "resa/train/trainer.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;

namespace {
Tensor leaf(const Fixture& fx, const std::string& name, DType dt) {
  return fx.get(name, dt).detach().requires_grad_(true);
}
const DType kDtypes[] = {DType::Float32, DType::Float64};
}  // namespace

// ---------------------------------------------------------------- against PyTorch

TEST_CASE("simclr_loss and its gradients equal PyTorch's NT-Xent") {
  auto fx = load_fixture("methods_simclr");
  for (DType dt : kDtypes) {
    INFO("dtype " << dtype_name(dt));
    Tensor z0 = leaf(fx, "z0", dt), z1 = leaf(fx, "z1", dt);
    Tensor loss = simclr_loss(z0, z1, fx.meta["temperature"]);
    CHECK(max_rel_error(loss, fx.get("loss", dt)) < 1e-4);
    loss.backward();
    CHECK(max_rel_error(z0.grad(), fx.get("grad_z0", dt)) < 1e-4);
    CHECK(max_rel_error(z1.grad(), fx.get("grad_z1", dt)) < 1e-4);
  }
}

TEST_CASE("byol_loss and its gradients equal PyTorch's") {
  auto fx = load_fixture("methods_byol");
  for (DType dt : kDtypes) {
    INFO("dtype " << dtype_name(dt));
    Tensor p0 = leaf(fx, "p0", dt), p1 = leaf(fx, "p1", dt);
    Tensor loss = byol_loss(p0, p1, fx.get("zt0", dt), fx.get("zt1", dt));
    CHECK(max_rel_error(loss, fx.get("loss_p", dt)) < 1e-4);
    loss.backward();
    CHECK(max_rel_error(p0.grad(), fx.get("grad_p0", dt)) < 1e-4);
    CHECK(max_rel_error(p1.grad(), fx.get("grad_p1", dt)) < 1e-4);
  }
}

TEST_CASE("BYOL predictor + loss: gradients w.r.t. the embeddings and the predictor weights equal PyTorch's") {
  auto fx = load_fixture("methods_byol");
  const int64_t e = fx.meta["embed"], h = fx.meta["hidden"];
  auto pred = nn::make_byol_predictor(e, h, e);
  nn::StateDict sd;
  for (auto& [k, v] : fx.tensors)
    if (k.rfind("predictor.", 0) == 0) sd[k.substr(10)] = v;
  pred->load_state_dict(sd, true);
  pred->train(true);
  Tensor z0 = leaf(fx, "z0", DType::Float32), z1 = leaf(fx, "z1", DType::Float32);
  Tensor loss = byol_loss(pred->forward(z0), pred->forward(z1), fx.get("zt0"), fx.get("zt1"));
  CHECK(max_rel_error(loss, fx.get("loss")) < 1e-4);
  loss.backward();
  CHECK(max_rel_error(z0.grad(), fx.get("grad_z0")) < 1e-4);
  CHECK(max_rel_error(z1.grad(), fx.get("grad_z1")) < 1e-4);
  int checked = 0;
  for (auto& [name, p] : pred->named_parameters()) {
    INFO("predictor." << name);
    REQUIRE(p.grad().defined());
    Tensor ref = fx.get("grad.predictor." + name);
    // The first Linear's bias feeds batch norm: its true gradient is 0, and both sides hold rounding
    // noise, compared in absolute terms.
    if (name == "0.bias")
      CHECK(max_abs_error(p.grad(), ref) < 1e-6);
    else
      CHECK(max_rel_error(p.grad(), ref) < 1e-4);
    ++checked;
  }
  CHECK(checked == 6);
}

TEST_CASE("swav_loss: scores, Sinkhorn codes (SwAV's distributed_sinkhorn), loss and gradients equal PyTorch's") {
  auto fx = load_fixture("methods_swav");
  auto opts = SwAVOptions().temperature(fx.meta["temperature"]).eps(fx.meta["eps"]).iters(fx.meta["iters"]);
  for (DType dt : kDtypes) {
    INFO("dtype " << dtype_name(dt));
    Tensor z0 = leaf(fx, "z0", dt), z1 = leaf(fx, "z1", dt), w = leaf(fx, "prototypes", dt);
    Tensor s0 = swav_scores(z0, w), s1 = swav_scores(z1, w);
    CHECK(max_rel_error(s0, fx.get("scores0", dt)) < 1e-5);
    CHECK(max_rel_error(s1, fx.get("scores1", dt)) < 1e-5);
    // Codes: (8, 7) non-square, so the order of the row and column steps matters.
    CHECK(max_rel_error(swav_codes(s0, opts.eps_, opts.iters_), fx.get("codes0", dt)) < 1e-4);
    CHECK(max_rel_error(swav_codes(s1, opts.eps_, opts.iters_), fx.get("codes1", dt)) < 1e-4);
    Tensor loss = swav_loss(z0, z1, w, opts);
    CHECK(max_rel_error(loss, fx.get("loss", dt)) < 1e-4);
    loss.backward();
    CHECK(max_rel_error(z0.grad(), fx.get("grad_z0", dt)) < 1e-4);
    CHECK(max_rel_error(z1.grad(), fx.get("grad_z1", dt)) < 1e-4);
    CHECK(max_rel_error(w.grad(), fx.get("grad_prototypes", dt)) < 1e-4);
  }
}

TEST_CASE("vicreg_loss, its three terms and its gradients equal PyTorch's") {
  auto fx = load_fixture("methods_vicreg");
  for (DType dt : kDtypes) {
    INFO("dtype " << dtype_name(dt));
    Tensor z0 = leaf(fx, "z0", dt), z1 = leaf(fx, "z1", dt);
    auto r = vicreg_loss(z0, z1, VICRegOptions().sim(fx.meta["sim"]).var(fx.meta["var"]).cov(fx.meta["cov"]));
    CHECK(max_rel_error(r.loss, fx.get("loss", dt)) < 1e-4);
    CHECK(max_rel_error(r.invariance, fx.get("invariance", dt)) < 1e-4);
    CHECK(max_rel_error(r.variance, fx.get("variance", dt)) < 1e-4);
    CHECK(max_rel_error(r.covariance, fx.get("covariance", dt)) < 1e-4);
    r.loss.backward();
    CHECK(max_rel_error(z0.grad(), fx.get("grad_z0", dt)) < 1e-4);
    CHECK(max_rel_error(z1.grad(), fx.get("grad_z1", dt)) < 1e-4);
  }
  // The official code's variant halves the variance term.
  Tensor z0 = fx.get("z0", DType::Float64), z1 = fx.get("z1", DType::Float64);
  auto half = vicreg_loss(z0, z1, VICRegOptions().variance_mean_over_views(true));
  CHECK(half.variance.item() == doctest::Approx(fx.get("variance", DType::Float64).item() / 2).epsilon(1e-12));
}

// ---------------------------------------------------------------- float64 gradient checks

TEST_CASE("gradcheck: simclr_loss") {
  RESA_GRADCHECK([](const std::vector<Tensor>& in) { return simclr_loss(in[0], in[1], 0.3); },
                 (std::vector<Tensor>{rand64({5, 3}, 1), rand64({5, 3}, 2)}));
}

TEST_CASE("gradcheck: byol_loss (w.r.t. the predictions and the targets)") {
  RESA_GRADCHECK([](const std::vector<Tensor>& in) { return byol_loss(in[0], in[1], in[2], in[3]); },
                 (std::vector<Tensor>{rand64({5, 3}, 3), rand64({5, 3}, 4), rand64({5, 3}, 5), rand64({5, 3}, 6)}));
}

TEST_CASE("gradcheck: SwAV scores + swapped prediction (w.r.t. embeddings and prototypes, codes held fixed)") {
  // The codes carry no gradient by design, so they are computed once and held constant while the
  // finite differences move the inputs (otherwise the numeric side would differentiate Sinkhorn too).
  Tensor z0 = rand64({7, 3}, 7), z1 = rand64({7, 3}, 8), w = rand64({5, 3}, 9);
  Tensor q0 = swav_codes(swav_scores(z0, w), 0.05, 3), q1 = swav_codes(swav_scores(z1, w), 0.05, 3);
  RESA_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return swav_swapped_loss({swav_scores(in[0], in[2]), swav_scores(in[1], in[2])}, {q0, q1}, 0.1);
      },
      (std::vector<Tensor>{z0, z1, w}));
  // Three views, codes for the first two (the multi-crop form).
  Tensor z2 = rand64({7, 3}, 10);
  RESA_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return swav_swapped_loss({swav_scores(in[0], in[3]), swav_scores(in[1], in[3]), swav_scores(in[2], in[3])},
                                 {q0, q1}, 0.1);
      },
      (std::vector<Tensor>{z0, z1, z2, w}));
}

TEST_CASE("gradcheck: vicreg_loss (both sides of the variance hinge)") {
  // Columns scaled so that some stds lie below 1 (hinge active) and some above.
  Generator g(11);
  Tensor scale = from_vector<double>({0.3, 0.7, 2.5, 0.5}, {4});
  Tensor z0 = mul(randn({6, 4}, TensorOptions().dtype(DType::Float64), &g), scale).detach().requires_grad_(true);
  Tensor z1 = mul(randn({6, 4}, TensorOptions().dtype(DType::Float64), &g), scale).detach().requires_grad_(true);
  RESA_GRADCHECK([](const std::vector<Tensor>& in) { return vicreg_loss(in[0], in[1]).loss; },
                 (std::vector<Tensor>{z0, z1}));
}

TEST_CASE("losses reject mismatched shapes, naming them") {
  Tensor a = zeros({4, 3}), b = zeros({5, 3});
  RESA_CHECK_THROWS_WITH_SUBSTR(simclr_loss(a, b), "(5, 3)");
  RESA_CHECK_THROWS_WITH_SUBSTR(byol_loss(a, a, b, a), "(5, 3)");
  RESA_CHECK_THROWS_WITH_SUBSTR(swav_scores(a, zeros({6, 2})), "(6, 2)");
  RESA_CHECK_THROWS_WITH_SUBSTR(vicreg_loss(a, b), "(5, 3)");
}

// ---------------------------------------------------------------- whole methods

namespace {
struct Tiny {
  std::shared_ptr<Method> method;
  nn::ModulePtr encoder;
  std::shared_ptr<nn::Projector> projector;
};

Tiny make_tiny(MethodSpec spec, int64_t channels = 1) {
  auto encoder = nn::make_resnet(
      nn::ResNetOptions().arch("resnet_small").in_channels(channels).width_multiplier(8.0 / 32.0).seed(3));
  Generator gen(5);
  auto projector =
      std::make_shared<nn::Projector>(encoder->feature_dim(), "32-32-16", projector_last_bn(spec.name), true, &gen);
  Tiny t{make_method(spec, encoder, projector), encoder, projector};
  t.method->train(true);
  return t;
}

std::unique_ptr<nn::SGD> make_sgd(Method& m, double lr) {
  std::vector<nn::ParamGroup> groups;
  for (auto& mod : m.trainable())
    groups.push_back(nn::make_group(*mod, nn::ParamGroup().set_lr(lr).set_weight_decay(1e-4).set_momentum(0.9)));
  return std::make_unique<nn::SGD>(groups);
}

// The baselines with small heads (K = 100 prototypes, predictor hidden 32).
MethodSpec small_spec(const std::string& name) {
  MethodSpec s;
  s.name = name;
  s.swav.prototypes(100).freeze_iters(2);
  s.byol.pred_hidden(32);
  return s;
}
}  // namespace

TEST_CASE("each method runs 3 SGD steps of a tiny model with a finite loss") {
  for (std::string name : {"simclr", "byol", "swav", "vicreg"}) {
    INFO("method " << name);
    auto t = make_tiny(small_spec(name));
    CHECK(t.method->name() == name);
    auto sgd = make_sgd(*t.method, 0.05);
    Generator g(17);
    for (int64_t step = 0; step < 3; ++step) {
      std::vector<Tensor> views{randn({16, 1, 12, 12}, {}, &g), randn({16, 1, 12, 12}, {}, &g)};
      auto out = t.method->forward(views, StepContext{step, 10});
      REQUIRE(out.loss.dim() == 0);
      CHECK(std::isfinite(out.loss.item()));
      sgd->zero_grad();
      out.loss.backward();
      for (auto& m : t.method->trainable())
        for (auto& [pn, p] : m->named_parameters())
          if (p.grad().defined()) CHECK(std::isfinite(max(abs(p.grad())).item()));
      sgd->step();
    }
  }
}

TEST_CASE("factory: every method by name, its checkpoint modules, and an unknown name") {
  std::map<std::string, std::vector<std::string>> expected{
      {"simclr", {"encoder", "projector"}},
      {"byol", {"encoder", "projector", "predictor", "teacher_encoder", "teacher_projector"}},
      {"swav", {"encoder", "projector", "prototypes"}},
      {"vicreg", {"encoder", "projector"}}};
  for (auto& [name, mods] : expected) {
    INFO("method " << name);
    auto t = make_tiny(small_spec(name));
    std::vector<std::string> got;
    for (auto& [n, m] : t.method->modules()) got.push_back(n);
    CHECK(got == mods);
    // Each paper evaluates the online encoder and its projector.
    CHECK(t.method->eval_encoder() == t.encoder);
    CHECK(t.method->eval_projector() == std::static_pointer_cast<nn::Module>(t.projector));
  }
  MethodSpec bad;
  bad.name = "moco";
  RESA_CHECK_THROWS_WITH_SUBSTR(make_tiny(bad), "moco");
}

TEST_CASE("TrainConfig: the baselines' fields survive JSON and reach the methods through build_method") {
  train::TrainConfig cfg;
  cfg.arch = "resnet_small";
  cfg.width = 8;
  cfg.mlp = "32-32-16";
  cfg.simclr.temperature(0.35);
  cfg.byol.ema_base(0.95).pred_hidden(12);
  cfg.swav.temperature(0.15).prototypes(17).freeze_iters(7);
  // Sinkhorn's settings are shared by ReSA and SwAV: the saved config holds one value for both.
  cfg.resa.loss_.eps(0.04).iters(5);
  cfg.vicreg.sim(20).var(21).cov(2);
  nlohmann::json j = cfg;
  train::TrainConfig back = j.get<train::TrainConfig>();
  CHECK(j["simclr_temperature"] == 0.35);  // the keys of the saved configs are those of older versions
  CHECK(j["swav_prototypes"] == 17);
  CHECK(j["sinkhorn_eps"] == 0.04);
  CHECK(back.simclr.temperature_ == 0.35);
  CHECK(back.byol.ema_base_ == 0.95);
  CHECK(back.byol.pred_hidden_ == 12);
  CHECK(back.swav.temperature_ == 0.15);
  CHECK(back.swav.prototypes_ == 17);
  CHECK(back.swav.freeze_iters_ == 7);
  CHECK(back.vicreg.sim_ == 20);
  CHECK(back.vicreg.var_ == 21);
  CHECK(back.vicreg.cov_ == 2);
  // A config written before the baselines existed loads with their defaults.
  nlohmann::json old = j;
  for (const char* k : {"simclr_temperature", "byol_momentum", "swav_prototypes", "vicreg_cov"}) old.erase(k);
  train::TrainConfig dflt = old.get<train::TrainConfig>();
  CHECK(dflt.simclr.temperature_ == 0.2);
  CHECK(dflt.byol.ema_base_ == 0.99);
  CHECK(dflt.swav.prototypes_ == 3000);
  CHECK(dflt.vicreg.cov_ == 1.0);

  back.method = "simclr";
  auto simclr = std::dynamic_pointer_cast<SimCLR>(train::build_method(back, 1));
  REQUIRE(simclr);
  CHECK(simclr->options().temperature_ == 0.35);
  back.method = "byol";
  auto byol = std::dynamic_pointer_cast<BYOL>(train::build_method(back, 1));
  REQUIRE(byol);
  CHECK(byol->options().ema_base_ == 0.95);
  CHECK(byol->predictor()->named_parameters().front().second.shape() == Shape{12, 16});
  back.method = "swav";
  auto swav = std::dynamic_pointer_cast<SwAV>(train::build_method(back, 1));
  REQUIRE(swav);
  CHECK(swav->prototypes()->weight().shape() == Shape{17, 16});
  CHECK(swav->options().temperature_ == 0.15);
  CHECK(swav->options().freeze_iters_ == 7);
  CHECK(swav->options().eps_ == 0.04);
  CHECK(swav->options().iters_ == 5);
  back.method = "vicreg";
  auto vicreg = std::dynamic_pointer_cast<VICReg>(train::build_method(back, 1));
  REQUIRE(vicreg);
  // The baselines' projector ends with the Linear (no final batch norm): 2 hidden blocks + Linear = 7
  // children; ReSA's has the BatchNorm1d(affine=False) as an 8th.
  CHECK(vicreg->eval_projector()->children().size() == 7);
  back.method = "resa";
  CHECK(train::build_method(back, 1)->eval_projector()->children().size() == 8);
  back.method = "vicreg";
  CHECK(vicreg->options().sim_ == 20);
  CHECK(vicreg->options().var_ == 21);
  CHECK(vicreg->options().cov_ == 2);
}

TEST_CASE("method_settings: one entry per flag and key, each reaching the options it names") {
  std::set<std::string> flags, keys;
  train::TrainConfig cfg;
  for (const auto& st : train::method_settings()) {
    CAPTURE(st.flag);
    CHECK(flags.insert(st.flag).second);
    CHECK(keys.insert(st.key).second);
    CHECK(st.flag.rfind("--", 0) == 0);
    CHECK_FALSE(st.help.empty());
    // Writing back what was read changes nothing (the JSON round trip relies on it).
    nlohmann::json before = cfg;
    st.set(cfg, st.get(cfg));
    CHECK(nlohmann::json(cfg) == before);
  }
  CHECK(flags.size() == 16);
  // A shared setting (Sinkhorn's, of ReSA and SwAV) sets both methods' options.
  for (const auto& st : train::method_settings())
    if (st.key == "sinkhorn_iters") st.set(cfg, int64_t{7});
  CHECK(cfg.resa.loss_.iters_ == 7);
  CHECK(cfg.swav.iters_ == 7);
  // The variant is a name on the command line and in saved configs, a flag in ReSA's options.
  nlohmann::json j = cfg;
  CHECK(j["variant"] == "momentum");
  j["variant"] = "no-momentum";
  CHECK_FALSE(j.get<train::TrainConfig>().resa.momentum_teacher_);
  j["variant"] = "slow";
  RESA_CHECK_THROWS_WITH_SUBSTR(j.get<train::TrainConfig>(), "slow");
}

TEST_CASE("validate: the defaults pass; every numeric method setting has a range its default lies in") {
  train::TrainConfig cfg;
  CHECK_NOTHROW(train::validate(cfg));
  for (const auto& st : train::method_settings()) {
    CAPTURE(st.flag);
    const train::SettingValue v = st.get(cfg);
    if (!st.choices.empty()) continue;
    const double x =
        std::holds_alternative<double>(v) ? std::get<double>(v) : static_cast<double>(std::get<int64_t>(v));
    CHECK(st.range.contains(x));
    // Just outside the range: validate names the flag (the test of every flag is tests/test_flags.sh).
    const double bad = std::isinf(st.range.lo) ? st.range.hi + 1 : st.range.lo - 1;
    train::TrainConfig c = cfg;
    if (std::holds_alternative<double>(v))
      st.set(c, bad);
    else
      st.set(c, static_cast<int64_t>(bad));
    RESA_CHECK_THROWS_WITH_SUBSTR(train::validate(c), st.flag + " ");
  }
  CHECK(train::ValueRange::unit_open().contains(0.0));
  CHECK_FALSE(train::ValueRange::unit_open().contains(1.0));
  CHECK_FALSE(train::ValueRange::positive().contains(0.0));
  CHECK_FALSE(train::ValueRange::positive().contains(std::nan("")));
  CHECK(train::ValueRange::unit_open().text() == "in [0, 1)");
}

TEST_CASE("BYOL: the target starts as the online network, is never trained, and follows it by EMA") {
  auto spec = small_spec("byol");
  spec.byol.ema_base(0.9);
  auto t = make_tiny(spec);
  auto& byol = dynamic_cast<BYOL&>(*t.method);
  auto online = t.encoder->state_dict(), target = byol.target_encoder()->state_dict();
  for (auto& [k, v] : online) CHECK(max_abs_error(v.to(DType::Float64), target.at(k).to(DType::Float64)) == 0.0);
  for (auto& p : byol.target_encoder()->parameters()) CHECK_FALSE(p.requires_grad());
  auto sgd = make_sgd(byol, 0.1);
  Generator g(19);
  const int64_t total = 10;
  std::vector<Tensor> views{randn({16, 1, 12, 12}, {}, &g), randn({16, 1, 12, 12}, {}, &g)};
  // Step 0: the target update mixes two equal networks; train once so they differ.
  auto out = byol.forward(views, StepContext{0, total});
  CHECK(out.stats.at("ema_momentum") == doctest::Approx(0.9));
  sgd->zero_grad();
  out.loss.backward();
  for (auto& p : byol.target_encoder()->parameters()) CHECK_FALSE(p.grad().defined());
  sgd->step();
  // Step 1: target = m * target + (1 - m) * online, with m from the cosine schedule.
  auto before_t = byol.target_encoder()->named_parameters();
  auto before_o = t.encoder->named_parameters();
  std::vector<Tensor> expect;
  // BYOL's schedule in closed form: 1 - (1 - base) (1 + cos(pi k / K)) / 2.
  const double m = 1.0 - 0.1 * 0.5 * (1.0 + std::cos(M_PI * 1.0 / static_cast<double>(total)));
  for (size_t i = 0; i < before_t.size(); ++i)
    expect.push_back(add(mul(before_t[i].second.detach().to(DType::Float64), m),
                         mul(before_o[i].second.detach().to(DType::Float64), 1 - m)));
  out = byol.forward(views, StepContext{1, total});
  CHECK(out.stats.at("ema_momentum") == doctest::Approx(m));
  auto after_t = byol.target_encoder()->named_parameters();
  for (size_t i = 0; i < after_t.size(); ++i) {
    INFO(after_t[i].first);
    CHECK(max_abs_error(after_t[i].second.to(DType::Float64), expect[i]) < 1e-6);
  }
}

TEST_CASE("SwAV: prototypes are l2-normalised every step and get no gradient while frozen") {
  auto t = make_tiny(small_spec("swav"));  // freeze_iters 2
  auto& swav = dynamic_cast<SwAV&>(*t.method);
  Tensor& w = swav.prototypes()->weight();
  CHECK(w.shape() == Shape{100, 16});
  auto sgd = make_sgd(swav, 0.1);
  Generator g(23);
  for (int64_t step = 0; step < 3; ++step) {
    INFO("step " << step);
    std::vector<Tensor> views{randn({16, 1, 12, 12}, {}, &g), randn({16, 1, 12, 12}, {}, &g)};
    auto out = swav.forward(views, StepContext{step, 10});
    // Rows of unit norm after the in-place normalisation.
    Tensor norms = norm(w.detach(), {1});
    CHECK(max_abs_error(norms, ones({100})) < 1e-5);
    CHECK(out.stats.at("prototypes_frozen") == (step < 2 ? 1.0 : 0.0));
    Tensor w_before = w.detach().clone();
    sgd->zero_grad();
    out.loss.backward();
    CHECK(w.grad().defined() == (step >= 2));
    sgd->step();
    if (step < 2)
      CHECK(max_abs_error(w.detach(), w_before) == 0.0);  // weight decay skipped too
    else
      CHECK(max_abs_error(w.detach(), w_before) > 0.0);
  }
}

// ---------------------------------------------------------------- real images

TEST_CASE("on Fashion-MNIST each method's loss falls over 30 steps of a tiny model") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: " << dir << " is absent (Debian package dataset-fashion-mnist)");
    return;
  }
  auto ds = data::load_mnist_dir(dir, true, data::DatasetOptions().subset(512));
  const int64_t size = 12, batch = 32, steps = 30;
  // Crop + flip views, as the weak view of the loader, at 12x12 and batch 32 so that the test stays short.
  auto cfg = data::ViewConfig::weak(size).normalize({0.286f}, {0.353f});
  auto make_views = [&](int64_t step) {
    std::vector<Tensor> views;
    for (int64_t v = 0; v < 2; ++v) {
      Tensor x = Tensor::empty({batch, 1, size, size});
      for (int64_t i = 0; i < batch; ++i) {
        const int64_t idx = (step * batch + i) % ds->size();
        Generator g = data::view_generator(7, step, idx, v);
        data::apply_view(ds->image(idx), cfg, g, x.data<float>() + i * size * size);
      }
      views.push_back(x);
    }
    return views;
  };
  for (std::string name : {"simclr", "byol", "swav", "vicreg"}) {
    INFO("method " << name);
    auto spec = small_spec(name);
    spec.swav.freeze_iters(5);
    auto t = make_tiny(spec);
    auto sgd = make_sgd(*t.method, 0.05);
    std::vector<double> losses;
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t step = 0; step < steps; ++step) {
      // Linear warm-up over the first 10 steps, as the trainer's schedule does. VICReg gets a lower
      // rate: with plain SGD at 0.05 its covariance term (quartic in the embeddings, which have no
      // final batch norm) blows up to NaN within 25 steps, warm-up or not; its paper trains with LARS.
      for (auto& grp : sgd->param_groups())
        grp.lr = (name == "vicreg" ? 0.01 : 0.05) * std::min<double>(1.0, static_cast<double>(step + 1) / 10.0);
      auto out = t.method->forward(make_views(step), StepContext{step, steps});
      losses.push_back(out.loss.item());
      sgd->zero_grad();
      out.loss.backward();
      sgd->step();
    }
    double first = 0, last = 0;
    for (int i = 0; i < 5; ++i)
      first += losses[static_cast<size_t>(i)] / 5, last += losses[losses.size() - 1 - static_cast<size_t>(i)] / 5;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE(name << ": mean loss of steps 0-4 " << first << ", of steps 25-29 " << last << " (" << secs << " s)");
    CHECK(std::isfinite(last));
    CHECK(last < first);
  }
}
