// resa_bench: times the full ReSA training step (two views through the online network, teacher
// forward, Sinkhorn, loss, backward, SGD and EMA update) and its main pieces, after warm-up, as the
// median of N runs. Prints a table and one JSON line (ms/step, images/s, GFLOP/s, peak resident memory).
//
//   resa_bench --arch resnet18 --batch 64 --image 32 --threads 2
//   resa_bench --arch resnet_small --channels 1 --image 28 --batch 256 --threads 2
//   resa_bench --arch resnet18 --batch 256 --image 32 --device cuda --runs 10 [--tf32]
// On CUDA it also reports the caching allocator's peak device memory over the timed steps.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>

#include "cli_checks.h"

#include "resa/autograd/functions.h"
#include "resa/core/cpu_info.h"
#include "resa/core/parallel.h"
#include "resa/methods/resa.h"
#include "resa/nn/mlp.h"
#include "resa/nn/optim/optimizer.h"
#include "resa/nn/resnet.h"
#include "resa/ops/cpu/gemm.h"
#include "resa/ops/cpu/isa.h"
#include "resa/ops/dispatch.h"
#include "resa/sinkhorn.h"
#ifdef RESA_WITH_CUDA
#include "resa/ops/cuda/runtime.h"
#endif

using namespace resa;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

template <typename F>
double time_ms(F&& f, int warmup, int runs, Device dev) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    if (dev.is_cuda()) dispatch::cuda_synchronize();
    auto t0 = Clock::now();
    f();
    if (dev.is_cuda()) dispatch::cuda_synchronize();
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return median(t);
}

// The float32 GEMM rate of this machine with the threads set: C (1024 x 1024) = A B with k = 1024, the
// fastest of 10 runs after 2 warm-ups. The fastest, not the median: this is the rate the machine can
// reach, and on a shared machine a median of a few 12 ms runs swung from 90 to 180 GFLOP/s.
double sgemm_gflops() {
  const int64_t n = 1024;
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n);
  auto run = [&] { cpu::gemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n); };
  double best = 0;
  for (int i = 0; i < 12; ++i) {
    const double ms = time_ms(run, 0, 1, kCPU);
    if (i >= 2 && (best == 0 || ms < best)) best = ms;
  }
  return 2.0 * n * n * n / best / 1e6;
}

// Multiply-adds x 2 of one encoder forward pass on one S x S image: the convolutions of a CIFAR-stem
// ResNet (BasicBlock: two 3x3 convs; Bottleneck: 1x1, 3x3, 1x1) and the 1x1 downsample convs.
double encoder_flops(const std::string& arch, int64_t width, int64_t cin, int64_t s) {
  bool bottleneck = arch == "resnet50";
  std::vector<int64_t> blocks = arch == "resnet18"       ? std::vector<int64_t>{2, 2, 2, 2}
                                : arch == "resnet_small" ? std::vector<int64_t>{1, 1, 1, 1}
                                                         : std::vector<int64_t>{3, 4, 6, 3};
  auto conv = [](int64_t ci, int64_t co, int64_t k, int64_t out) { return 2.0 * ci * co * k * k * out * out; };
  double f = conv(cin, width, 3, s);
  int64_t in = width, hw = s;
  for (int st = 0; st < 4; ++st) {
    int64_t planes = width << st;
    for (int64_t b = 0; b < blocks[st]; ++b) {
      int64_t stride = (st > 0 && b == 0) ? 2 : 1;
      int64_t out_hw = (hw + stride - 1) / stride;
      int64_t out_ch = bottleneck ? planes * 4 : planes;
      if (bottleneck) {
        f += conv(in, planes, 1, hw) + conv(planes, planes, 3, out_hw) + conv(planes, out_ch, 1, out_hw);
      } else {
        f += conv(in, planes, 3, out_hw) + conv(planes, planes, 3, out_hw);
      }
      if (stride != 1 || in != out_ch) f += conv(in, out_ch, 1, out_hw);
      in = out_ch;
      hw = out_hw;
    }
  }
  return f;
}

// A number flag's lower bound, checked where the flag is parsed: "--runs: value 0 must be >= 1".

long peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time the ReSA training step and its pieces"};
  std::string arch = "resnet18", mlp = "2048-2048-512", device = "cpu", variant = "momentum";
  int64_t batch = 64, image = 32, channels = 3, width = 0;
  int threads = 2, warmup = 1, runs = 5;
  bool tf32 = false;
  // Every flag checked where it is parsed, before anything is built.
  app.add_option("--arch", arch, "resnet18 | resnet34 | resnet50 | resnet_small")
      ->check(CLI::IsMember({"resnet18", "resnet34", "resnet50", "resnet_small"}))
      ->capture_default_str();
  app.add_option("--width", width, "base width (0: the architecture's)")
      ->check(app::at_least(0))
      ->capture_default_str();
  app.add_option("--mlp", mlp, "projector sizes")
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            try {
              nn::parse_mlp_spec(s);
              return "";
            } catch (const std::exception&) {
              return fmt::format("'{}' must be layer sizes > 0 joined by '-', like 2048-2048-512", s);
            }
          },
          "SIZES"))
      ->capture_default_str();
  app.add_option("--batch", batch, "images per view (batch norm needs 2)")
      ->check(app::at_least(2))
      ->capture_default_str();
  app.add_option("--image", image, "image side")->check(app::at_least(1))->capture_default_str();
  app.add_option("--channels", channels, "input channels")->check(app::at_least(1))->capture_default_str();
  app.add_option("--threads", threads, "CPU threads")->check(app::at_least(1))->capture_default_str();
  app.add_option("--device", device, "cpu | cuda")->check(app::device_name())->capture_default_str();
  app.add_option("--variant", variant, "momentum | no-momentum")
      ->check(CLI::IsMember({"momentum", "no-momentum"}))
      ->capture_default_str();
  app.add_option("--warmup", warmup, "untimed runs first")->check(app::at_least(0))->capture_default_str();
  app.add_option("--runs", runs, "timed runs (the median is reported)")->check(app::at_least(1))->capture_default_str();
  app.add_flag("--tf32", tf32, "TF32 tensor cores for float32 GEMMs (CUDA only)");
  CLI11_PARSE(app, argc, argv);

  try {
    set_num_threads(threads);
    Device dev = Device::parse(device);
    // First, while nothing else is resident: its 12 MB of matrices must not add to the step's peak RSS.
    const double sgemm = dev.is_cuda() ? 0.0 : sgemm_gflops();
    RESA_CHECK(!tf32 || dev.is_cuda(), "[resa_bench] --tf32 needs --device cuda");
#ifdef RESA_WITH_CUDA
    if (tf32) cuda::set_allow_tf32(true);
#endif
    const double base = arch == "resnet_small" ? 32.0 : 64.0;
    if (width == 0) width = static_cast<int64_t>(base);
    auto encoder = nn::make_resnet(nn::ResNetOptions().arch(arch).in_channels(channels).width_multiplier(width / base));
    auto projector = nn::make_projector(encoder->feature_dim(), mlp);
    ReSA method(encoder, projector, ReSAOptions().momentum_teacher(variant == "momentum"));
    method.to(dev);
    method.train(true);
    std::vector<nn::ParamGroup> groups;
    for (auto& m : method.trainable())
      groups.push_back(nn::make_group(*m, nn::ParamGroup().set_lr(0.05).set_weight_decay(1e-4).set_momentum(0.9)));
    nn::SGD sgd(groups);
    Generator gen(1);
    std::vector<Tensor> views{randn({batch, channels, image, image}, {}, &gen).to(dev),
                              randn({batch, channels, image, image}, {}, &gen).to(dev)};
    int64_t step = 0;
    auto full_step = [&] {
      sgd.zero_grad();
      MethodOutput out = method.forward(views, StepContext{step++, 1000});
      out.loss.backward();
      sgd.step();
      (void)out.loss.item();
    };
    double peak_gpu_mb = 0;
#ifdef RESA_WITH_CUDA
    if (dev.is_cuda()) cuda::reset_peak_stats(cuda::current_device());
#endif
    double step_ms = time_ms(full_step, warmup, runs, dev);
#ifdef RESA_WITH_CUDA
    if (dev.is_cuda())
      peak_gpu_mb = static_cast<double>(cuda::allocator_stats(cuda::current_device()).peak) / (1 << 20);
#endif

    const auto allocs_before = cpu_allocator_stats().num_allocs;
    full_step();
    const auto allocs_per_step = cpu_allocator_stats().num_allocs - allocs_before;

    // Pieces.
    std::vector<std::pair<std::string, double>> pieces;
    pieces.emplace_back("encoder forward, 1 view (no grad)", time_ms(
                                                                 [&] {
                                                                   NoGradGuard ng;
                                                                   (void)sum(encoder->forward(views[0])).item();
                                                                 },
                                                                 warmup, runs, dev));
    pieces.emplace_back("online forward+backward, 1 view",
                        time_ms(
                            [&] {
                              sgd.zero_grad();
                              Tensor l = sum(projector->forward(encoder->forward(views[0])));
                              l.backward();
                            },
                            warmup, runs, dev));
    const int64_t d = encoder->feature_dim(), e = projector->out_dim();
    Tensor h = randn({batch, d}, {}, &gen).to(dev), ht = randn({batch, d}, {}, &gen).to(dev);
    Tensor z0 = randn({batch, e}, {}, &gen).to(dev).requires_grad_(), z1 = randn({batch, e}, {}, &gen).to(dev);
    pieces.emplace_back("sinkhorn + loss + its backward", time_ms(
                                                              [&] {
                                                                z0.zero_grad();
                                                                resa_loss(h, ht, {z0, z0}, {z1, z1}).loss.backward();
                                                              },
                                                              warmup, runs, dev));
    full_step();  // leaves gradients for the optimizer timing
    pieces.emplace_back("SGD step (all parameters)", time_ms([&] { sgd.step(); }, warmup, runs, dev));
    auto teacher = encoder->clone();
    pieces.emplace_back("EMA update of the encoder",
                        time_ms(
                            [&] {
                              NoGradGuard ng;
                              auto tp = teacher->parameters(), sp = encoder->parameters();
                              for (size_t i = 0; i < tp.size(); ++i)
                                tp[i].copy_(add(mul(tp[i].detach(), 0.996), mul(sp[i].detach(), 0.004)));
                            },
                            warmup, runs, dev));

    const double enc_f = encoder_flops(arch, width, channels, image);
    auto sizes = nn::parse_mlp_spec(mlp);
    double mlp_f = 0;
    for (size_t i = 0, in = static_cast<size_t>(d); i < sizes.size(); in = static_cast<size_t>(sizes[i]), ++i)
      mlp_f += 2.0 * static_cast<double>(in) * static_cast<double>(sizes[i]);
    const double fwd = enc_f + mlp_f;
    // online: 2 views forward + backward (about 3 forwards); teacher: 2 views forward.
    const double step_flops = static_cast<double>(batch) * fwd * (variant == "momentum" ? 8.0 : 6.0);

    fmt::print("ReSA step | {} width {} | batch {} x 2 views | {}x{}x{} | {} | {} threads | GEMM: {}\n", arch, width,
               batch, channels, image, image, device, threads, cpu::gemm_backend_name());
    const std::string kernels = cpu::isa_name(cpu::active_isa());
    fmt::print("CPU: {} | vector ISA {} | our hot loops: {} (ops/cpu/isa.h; RESA_CPU_ISA picks another)\n",
               cpu_model_name(), cpu_vector_isa(), kernels);
    const double step_rate = step_flops / step_ms / 1e6;
    fmt::print("| piece | ms (median of {}) |\n|---|---|\n", runs);
    fmt::print("| full step | {:.1f} |\n", step_ms);
    for (auto& [name, ms] : pieces) fmt::print("| {} | {:.1f} |\n", name, ms);
    fmt::print(
        "encoder forward: {:.3f} GFLOP/image; step: {:.1f} GFLOP; {:.1f} GFLOP/s; {:.1f} images/s; "
        "{} host allocations/step; peak RSS {} MB; peak GPU memory {:.0f} MB{}\n",
        fwd / 1e9, step_flops / 1e9, step_rate, 1000.0 * batch / step_ms, allocs_per_step, peak_rss_mb(), peak_gpu_mb,
        tf32 ? " (TF32)" : "");
    if (sgemm > 0)
      fmt::print("sgemm (1024^3, {} threads): {:.1f} GFLOP/s; the step runs at {:.0f}% of it\n", threads, sgemm,
                 100.0 * step_rate / sgemm);
    fmt::print(
        "{{\"impl\":\"resa\",\"arch\":\"{}\",\"batch\":{},\"image\":{},\"threads\":{},\"device\":\"{}\","
        "\"ms_per_step\":{:.3f},\"images_per_s\":{:.2f},\"step_gflop\":{:.3f},\"gflops\":{:.2f},"
        "\"peak_rss_mb\":{},\"peak_gpu_mb\":{:.1f},\"tf32\":{},\"cpu\":\"{}\",\"isa\":\"{}\",\"kernels\":\"{}\","
        "\"gemm\":\"{}\",\"sgemm_gflops\":{:.1f},\"sgemm_fraction\":{:.3f}}}\n",
        arch, batch, image, threads, device, step_ms, 1000.0 * batch / step_ms, step_flops / 1e9, step_rate,
        peak_rss_mb(), peak_gpu_mb, tf32, cpu_model_name(), cpu_vector_isa(), kernels, cpu::gemm_backend_name(), sgemm,
        sgemm > 0 ? step_rate / sgemm : 0.0);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
