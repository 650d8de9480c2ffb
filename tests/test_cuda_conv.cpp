// Tier 3 for the CUDA convolution, pooling and batch-norm kernels (ops/cuda/{conv,pool,batchnorm}.cu):
// each against the CPU result, forward and backward through autograd, at odd sizes (N=3, C=5, H=11, W=9,
// K=7), plus one whole tiny ReSA step (loss and every parameter gradient) on both devices. Every case
// skips with a message where no CUDA device is present; the file builds without the CUDA backend too.
//
// Tolerance: relative error (max |gpu - cpu| / max |cpu|) <= 1e-5 in float32, 1e-10 in float64. The
// float32 GEMMs of conv2d add in another order than OpenBLAS (TF32 stays off); batch-norm sums are in
// double on both sides; the max-pool backward uses atomicAdd where windows overlap, which reorders sums
// of at most 4 terms (a few ulps). The ReSA step compares at 1e-4: its float32 rounding differences pass
// through Sinkhorn's exp(scores / 0.05) and several batch norms.
#include <algorithm>
#include <cmath>
#include <string>

#include "cuda_test_util.h"
#include "resa/autograd/functions.h"
#include "resa/methods/resa.h"
#include "resa/nn/mlp.h"
#include "resa/nn/optim/optimizer.h"
#include "resa/nn/resnet.h"
#include "resa/ops/pool.h"

using namespace resa;
using namespace resa::test;

namespace {

double tol_of(DType dt) { return dt == DType::Float64 ? 1e-10 : 1e-5; }

// Runs f on CPU leaves and on copies of them on the GPU; compares the output and, after backward of
// sum(out * r) for a fixed random r, the gradient of every input that requires one.
template <typename F>
void compare_graph(const std::vector<Tensor>& cpu_inputs, F&& f, double tol, const std::string& what) {
  std::vector<Tensor> c, g;
  for (const Tensor& t : cpu_inputs) {
    if (!t.defined()) {
      c.emplace_back();
      g.emplace_back();
      continue;
    }
    c.push_back(t.detach().clone().requires_grad_());
    g.push_back(t.detach().to(kGPU).requires_grad_());
  }
  Tensor yc = f(c), yg = f(g);
  check_close(yg, yc, tol, what + ": output");
  Tensor r = randn_cpu(yc.shape(), 999, yc.dtype());
  sum(yc * r).backward();
  sum(yg * r.to(kGPU)).backward();
  for (size_t i = 0; i < c.size(); ++i) {
    if (!c[i].defined()) continue;
    REQUIRE(c[i].grad().defined());
    REQUIRE(g[i].grad().defined());
    check_close(g[i].grad(), c[i].grad(), tol, what + ": grad of input " + std::to_string(i));
  }
}

struct ConvCase {
  std::string name;
  Shape x, w;
  Conv2dOptions opts;
  bool bias;
};

}  // namespace

TEST_CASE("cuda: conv2d forward and backward at odd sizes") {
  SKIP_WITHOUT_CUDA();
  const std::vector<ConvCase> cases = {
      {"3x3 pad 1 stride 1, bias", {3, 5, 11, 9}, {7, 5, 3, 3}, Conv2dOptions().padding(1), true},
      {"3x3 pad 1 stride 2", {3, 5, 11, 9}, {7, 5, 3, 3}, Conv2dOptions().padding(1).stride(2), false},
      {"1x1 stride 2", {3, 5, 11, 9}, {7, 5, 1, 1}, Conv2dOptions().stride(2), false},
      {"1x1 stride 1, bias", {3, 5, 11, 9}, {7, 5, 1, 1}, Conv2dOptions(), true},
      {"7x7 stride 2 pad 3, bias", {3, 5, 11, 9}, {7, 5, 7, 7}, Conv2dOptions().stride(2).padding(3), true},
      {"3x3 dilation 2 pad 2", {3, 5, 11, 9}, {7, 5, 3, 3}, Conv2dOptions().dilation(2).padding(2), false},
      {"2x3 stride (1, 2) pad (0, 1) dilation (2, 1), bias",
       {3, 5, 11, 9},
       {7, 5, 2, 3},
       Conv2dOptions().stride(1, 2).padding(0, 1).dilation(2, 1),
       true},
      {"one image, one channel", {1, 1, 11, 9}, {7, 1, 3, 3}, Conv2dOptions().padding(1), true},
  };
  for (DType dt : {DType::Float32, DType::Float64}) {
    uint64_t seed = 10;
    for (const auto& cs : cases) {
      Tensor x = randn_cpu(cs.x, seed++, dt), w = randn_cpu(cs.w, seed++, dt);
      Tensor b = cs.bias ? randn_cpu({cs.w[0]}, seed++, dt) : Tensor();
      compare_graph(
          {x, w, b}, [&](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], cs.opts); }, tol_of(dt),
          cs.name + " " + std::string(dtype_name(dt)));
    }
  }
}

TEST_CASE("cuda: conv2d over several image groups (a ResNet-sized layer)") {
  SKIP_WITHOUT_CUDA();
  // 60 images of (64, 32, 32) with a 3x3 kernel: the column scratch holds 56 images, so the forward,
  // both backwards and the weight-gradient accumulation (beta = 1) run over two groups.
  Tensor x = randn_cpu({60, 64, 32, 32}, 21), w = mul(randn_cpu({32, 64, 3, 3}, 22), 0.05);
  Tensor b = randn_cpu({32}, 23);
  compare_graph(
      {x, w, b}, [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], Conv2dOptions().padding(1)); },
      1e-5, "two groups");
}

TEST_CASE("cuda: max and avg pooling forward and backward") {
  SKIP_WITHOUT_CUDA();
  struct PoolCase {
    int64_t kernel, stride, padding;
  };
  for (DType dt : {DType::Float32, DType::Float64}) {
    uint64_t seed = 30;
    for (PoolCase pc : {PoolCase{3, 2, 1}, PoolCase{2, 2, 0}, PoolCase{3, 1, 1}, PoolCase{5, 3, 2}}) {
      const std::string name = "k" + std::to_string(pc.kernel) + " s" + std::to_string(pc.stride) + " p" +
                               std::to_string(pc.padding) + " " + std::string(dtype_name(dt));
      Tensor x = randn_cpu({3, 5, 11, 9}, seed++, dt);
      compare_graph(
          {x}, [&](const std::vector<Tensor>& in) { return max_pool2d(in[0], pc.kernel, pc.stride, pc.padding); },
          tol_of(dt), "max_pool2d " + name);
      compare_graph(
          {x}, [&](const std::vector<Tensor>& in) { return avg_pool2d(in[0], pc.kernel, pc.stride, pc.padding); },
          tol_of(dt), "avg_pool2d " + name);
      // The argmax indices are the same (the first maximum of each window).
      auto [yc, ic] = ops::max_pool2d(x, pc.kernel, pc.stride, pc.padding);
      auto [yg, ig] = ops::max_pool2d(x.to(kGPU), pc.kernel, pc.stride, pc.padding);
      CHECK(ig.to(kCPU).to_vector<int64_t>() == ic.to_vector<int64_t>());
      CHECK(max_abs_error(yg.to(kCPU), yc) == 0.0);
    }
  }
}

TEST_CASE("cuda: batch norm train and eval, 2-D and 4-D, forward, running stats and backward") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : {DType::Float32, DType::Float64}) {
    const double tol = tol_of(dt);
    for (const Shape& shape : {Shape{7, 5}, Shape{3, 5, 11, 9}, Shape{2, 5, 1, 1}}) {
      for (bool affine : {true, false}) {
        const std::string name = shape_str(shape) + (affine ? " affine " : " plain ") + std::string(dtype_name(dt));
        // A mean and spread away from (0, 1), so that both the centring and the scaling matter.
        Tensor x = add(mul(randn_cpu(shape, 41, dt), 3.0), 2.0);
        Tensor w = affine ? randn_cpu({5}, 42, dt) : Tensor(), b = affine ? randn_cpu({5}, 43, dt) : Tensor();
        Tensor rm_c = randn_cpu({5}, 44, dt), rv_c = add(abs(randn_cpu({5}, 45, dt)), 0.5);
        Tensor rm_g = rm_c.to(kGPU), rv_g = rv_c.to(kGPU);
        // Training: batch statistics, running stats updated in place on each device.
        compare_graph(
            {x, w, b},
            [&](const std::vector<Tensor>& in) {
              const bool gpu = in[0].device().is_cuda();
              return batch_norm(in[0], in[1], in[2], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, true, 0.1, 1e-5);
            },
            tol, "train " + name);
        check_close(rm_g, rm_c, tol, "running_mean after train " + name);
        check_close(rv_g, rv_c, tol, "running_var after train " + name);
        // Training without running statistics.
        compare_graph(
            {x, w, b},
            [&](const std::vector<Tensor>& in) { return batch_norm(in[0], in[1], in[2], {}, {}, true, 0.1, 1e-5); },
            tol, "train, no running stats " + name);
        // Eval: the running statistics.
        compare_graph(
            {x, w, b},
            [&](const std::vector<Tensor>& in) {
              const bool gpu = in[0].device().is_cuda();
              return batch_norm(in[0], in[1], in[2], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, false, 0.1, 1e-5);
            },
            tol, "eval " + name);
      }
    }
  }
}

TEST_CASE("cuda: one tiny ReSA step gives the CPU's loss and gradients") {
  SKIP_WITHOUT_CUDA();
  manual_seed(5);
  auto encoder = nn::make_resnet(nn::ResNetOptions().arch("resnet_small").in_channels(1).width_multiplier(8.0 / 32.0));
  auto projector = nn::make_projector(encoder->feature_dim(), "32-32-16");
  nn::ModulePtr encoder_g = encoder->clone();
  auto projector_g = nn::clone_as(projector);
  ReSA cpu_method(encoder, projector, ReSAOptions().momentum_teacher(true));
  ReSA gpu_method(encoder_g, projector_g, ReSAOptions().momentum_teacher(true));
  gpu_method.to(kGPU);
  cpu_method.train(true);
  gpu_method.train(true);
  std::vector<Tensor> views = {randn_cpu({8, 1, 12, 12}, 51), randn_cpu({8, 1, 12, 12}, 52)};
  MethodOutput oc = cpu_method.forward(views, StepContext{0, 100});
  MethodOutput og = gpu_method.forward({views[0].to(kGPU), views[1].to(kGPU)}, StepContext{0, 100});
  REQUIRE(og.loss.device().is_cuda());
  const double lc = oc.loss.item(), lg = og.loss.item();
  INFO("loss cpu " << lc << " gpu " << lg);
  CHECK(std::abs(lg - lc) <= 1e-4 * std::max(1.0, std::abs(lc)));
  oc.loss.backward();
  og.loss.backward();
  // A Linear bias followed by batch norm has a true gradient of 0: both sides hold float32 rounding
  // noise, compared in absolute terms against the largest gradient.
  double largest = 0;
  const std::vector<std::pair<nn::ModulePtr, nn::ModulePtr>> pairs = {{encoder, encoder_g}, {projector, projector_g}};
  for (auto& [mc, mg] : pairs)
    for (auto& [name, p] : mc->named_parameters()) largest = std::max(largest, max(abs(p.grad())).item());
  int checked = 0;
  for (auto& [mc, mg] : pairs) {
    auto pc = mc->named_parameters(), pg = mg->named_parameters();
    REQUIRE(pc.size() == pg.size());
    for (size_t i = 0; i < pc.size(); ++i) {
      INFO("grad of " << pc[i].first);
      REQUIRE(pc[i].first == pg[i].first);
      REQUIRE(pg[i].second.grad().defined());
      CHECK(pg[i].second.grad().device().is_cuda());
      Tensor gc = pc[i].second.grad(), gg = pg[i].second.grad().to(kCPU);
      if (max(abs(gc)).item() < 1e-5 * largest)
        CHECK(max_abs_error(gg, gc) < 1e-5 * largest);
      else
        CHECK(max_rel_error(gg, gc) < 1e-4);
      ++checked;
    }
  }
  CHECK(checked > 20);
}
