// Convolution, pooling and batch norm: float64 gradient checks (tier 1), PyTorch reference values in
// float32 (tier 2, tests/scripts/gen_conv.py), and argument errors.
#include "resa/core/parallel.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

namespace {

// The float64 references are exact for the float32 inputs; what remains is float32 rounding in our
// kernels, summed over at most C * R * S = 144 (conv) or N * H * W = 60 (batch norm) terms.
constexpr double kTol = 1e-5;

Tensor f32_leaf(const Fixture& fx, const std::string& name) { return fx.get(name).requires_grad_(); }

void check_close(const Tensor& ours, const Tensor& ref, const std::string& what, double tol = kTol) {
  double err = max_rel_error(ours.to(DType::Float64), ref);
  INFO(what << ": max relative error " << err);
  CHECK(err <= tol);
}

Conv2dOptions conv_opts_of(const Fixture& fx) {
  auto s = fx.meta["stride"], p = fx.meta["padding"], d = fx.meta["dilation"];
  return Conv2dOptions()
      .stride(s[0].get<int64_t>(), s[1].get<int64_t>())
      .padding(p[0].get<int64_t>(), p[1].get<int64_t>())
      .dilation(d[0].get<int64_t>(), d[1].get<int64_t>());
}

}  // namespace

// ---------------------------------------------------------------- tier 1: gradcheck (float64)

TEST_CASE("conv2d passes gradcheck across kernels, strides, padding, dilation and bias") {
  struct Case {
    int64_t r, s;
    Conv2dOptions opts;
    bool bias;
  };
  std::vector<Case> cases = {
      {3, 3, Conv2dOptions(), true},
      {3, 3, Conv2dOptions().padding(1), false},
      {3, 3, Conv2dOptions().stride(2).padding(1), true},
      {3, 3, Conv2dOptions().stride(2), false},
      {1, 1, Conv2dOptions(), true},            // the pointwise path (no im2col)
      {1, 1, Conv2dOptions().stride(2), true},  // 1x1 downsample goes through im2col
      {2, 3, Conv2dOptions().padding(1, 0), true},
      {2, 3, Conv2dOptions().stride(2, 1).padding(0, 1), false},
      {3, 3, Conv2dOptions().dilation(2).padding(1), true},
      {2, 3, Conv2dOptions().dilation(2, 1).stride(1, 2), true},
  };
  uint64_t seed = 10;
  for (const auto& c : cases) {
    CAPTURE(c.r);
    CAPTURE(c.s);
    CAPTURE(c.bias);
    CAPTURE(c.opts.stride_[0]);
    CAPTURE(c.opts.padding_[0]);
    CAPTURE(c.opts.dilation_[0]);
    auto x = rand64({2, 3, 7, 5}, seed++), w = rand64({4, 3, c.r, c.s}, seed++);
    auto opts = c.opts;
    if (c.bias) {
      auto b = rand64({4}, seed++);
      RESA_GRADCHECK(Fn([opts](auto& v) { return conv2d(v[0], v[1], v[2], opts); }), {x, w, b});
    } else {
      RESA_GRADCHECK(Fn([opts](auto& v) { return conv2d(v[0], v[1], Tensor(), opts); }), {x, w});
    }
  }
}

TEST_CASE("conv2d gradients when only some inputs require grad") {
  auto x = rand64({2, 3, 6, 5}, 40), w = rand64({4, 3, 3, 3}, 41, false), b = rand64({4}, 42);
  auto opts = Conv2dOptions().padding(1);
  RESA_GRADCHECK(Fn([opts](auto& v) { return conv2d(v[0], v[1], v[2], opts); }), {x, w, b});
  auto x2 = rand64({2, 3, 6, 5}, 43, false), w2 = rand64({4, 3, 3, 3}, 44, false);
  RESA_GRADCHECK(Fn([opts](auto& v) { return conv2d(v[0], v[1], v[2], opts); }), {x2, w2, b});  // bias only
  // A non-contiguous input (a transposed view) gives the same values as its contiguous copy.
  auto xt = rand64({2, 3, 5, 6}, 45, false).transpose(2, 3);
  CHECK(max_abs_error(conv2d(xt, w, b, opts), conv2d(xt.contiguous(), w, b, opts)) == 0.0);
}

TEST_CASE("conv2d matches a direct sum (closed form) on a small case") {
  // x: (1, 2, 4, 4), w: (3, 2, 2, 2), stride 2, padding 1: y[k, p, q] = b[k] + sum x[c, 2p-1+r, 2q-1+s] w[k, c, r, s].
  auto x = rand64({1, 2, 4, 4}, 50, false), w = rand64({3, 2, 2, 2}, 51, false), b = rand64({3}, 52, false);
  auto y = conv2d(x, w, b, Conv2dOptions().stride(2).padding(1));
  REQUIRE(y.shape() == Shape{1, 3, 3, 3});
  auto xv = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>(), yv = y.to_vector<double>();
  double worst = 0;
  for (int k = 0; k < 3; ++k)
    for (int p = 0; p < 3; ++p)
      for (int q = 0; q < 3; ++q) {
        double acc = bv[k];
        for (int c = 0; c < 2; ++c)
          for (int r = 0; r < 2; ++r)
            for (int s = 0; s < 2; ++s) {
              int ih = 2 * p - 1 + r, iw = 2 * q - 1 + s;
              if (ih < 0 || ih >= 4 || iw < 0 || iw >= 4) continue;
              acc += xv[(c * 4 + ih) * 4 + iw] * wv[((k * 2 + c) * 2 + r) * 2 + s];
            }
        worst = std::max(worst, std::abs(acc - yv[(k * 3 + p) * 3 + q]));
      }
  CHECK(worst < 1e-12);
}

TEST_CASE("conv2d on a batch agrees with one image at a time, for 1 to 3 threads") {
  // The batch is split across threads, and within a thread small output planes are grouped several
  // images to a GEMM (here P * Q = 132 gives groups of 3, so 5 images make a group of 3 and one of 2).
  // One image at a time takes neither path (and 1x1 takes the path without im2col).
  for (int threads : {1, 2, 3}) {
    for (int64_t ks : {3, 1}) {
      CAPTURE(threads);
      CAPTURE(ks);
      set_num_threads(threads);
      auto x = rand64({5, 3, 12, 11}, 60), w = rand64({4, 3, ks, ks}, 61), b = rand64({4}, 62);
      auto opts = Conv2dOptions().padding(ks / 2);
      auto y = conv2d(x, w, b, opts);
      auto g = rand64(y.shape(), 63, false);
      sum(mul(y, g)).backward();
      Tensor gw_sum, gb_sum;
      for (int64_t n = 0; n < 5; ++n) {
        auto xn = x.detach().narrow(0, n, 1).contiguous().requires_grad_();
        auto wn = w.detach().clone().requires_grad_(), bn = b.detach().clone().requires_grad_();
        auto yn = conv2d(xn, wn, bn, opts);
        CHECK(max_abs_error(yn, y.detach().narrow(0, n, 1)) < 1e-12);
        sum(mul(yn, g.narrow(0, n, 1))).backward();
        CHECK(max_abs_error(xn.grad(), x.grad().narrow(0, n, 1)) < 1e-12);
        gw_sum = gw_sum.defined() ? add(gw_sum, wn.grad()) : wn.grad();
        gb_sum = gb_sum.defined() ? add(gb_sum, bn.grad()) : bn.grad();
      }
      CHECK(max_abs_error(gw_sum, w.grad()) < 1e-11);
      CHECK(max_abs_error(gb_sum, b.grad()) < 1e-11);
    }
  }
  set_num_threads(2);
}

TEST_CASE("pooling passes gradcheck") {
  auto x = rand64({2, 3, 7, 5}, 70);
  RESA_GRADCHECK(Fn([](auto& v) { return max_pool2d(v[0], 3, 2, 1); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return max_pool2d(v[0], 2, 2); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return max_pool2d(v[0], 3, 1, 1); }), {x});  // overlapping windows
  RESA_GRADCHECK(Fn([](auto& v) { return avg_pool2d(v[0], 3, 2, 1); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return avg_pool2d(v[0], 2, 1); }), {x});
  RESA_GRADCHECK(Fn([](auto& v) { return adaptive_avg_pool2d_1x1(v[0]); }), {x});
}

TEST_CASE("pooling values against closed forms") {
  // x = 0..15 as one 4x4 plane.
  auto x = arange(0, 16, 1, TensorOptions().dtype(DType::Float64)).reshape({1, 1, 4, 4});
  CHECK(max_pool2d(x, 2, 2).to_vector<double>() == std::vector<double>{5, 7, 13, 15});
  // Padding 1, kernel 3, stride 2: windows clipped to the plane; padding never wins even over negatives.
  CHECK(max_pool2d(neg(x), 3, 2, 1).to_vector<double>() == std::vector<double>{0, -1, -4, -5});
  // avg with padding divides by kernel^2 = 9 (count_include_pad): top-left window holds 0, 1, 4, 5.
  auto a = avg_pool2d(x, 3, 2, 1).to_vector<double>();
  CHECK(a[0] == doctest::Approx(10.0 / 9));
  CHECK(avg_pool2d(x, 2, 2).to_vector<double>() == std::vector<double>{2.5, 4.5, 10.5, 12.5});
  auto m = adaptive_avg_pool2d_1x1(x);
  CHECK(m.shape() == Shape{1, 1, 1, 1});
  CHECK(m.item() == 7.5);
}

TEST_CASE("batch_norm passes gradcheck in training and eval, affine on and off, 2-D and 4-D") {
  for (bool training : {true, false}) {
    for (bool affine : {true, false}) {
      for (Shape shape : {Shape{4, 3, 5, 3}, Shape{7, 5}}) {
        CAPTURE(training);
        CAPTURE(affine);
        CAPTURE(shape_str(shape));
        int64_t c = shape[1];
        auto x = rand64(shape, 80);
        auto rm = rand64({c}, 81, false), rv = add(abs(rand64({c}, 82, false)), 0.5);
        if (affine) {
          auto w = rand64({c}, 83), b = rand64({c}, 84);
          RESA_GRADCHECK(Fn([=](auto& v) { return batch_norm(v[0], v[1], v[2], rm, rv, training, 0.1, 1e-5); }),
                         {x, w, b});
        } else {
          RESA_GRADCHECK(Fn([=](auto& v) { return batch_norm(v[0], Tensor(), Tensor(), rm, rv, training, 0.1, 1e-5); }),
                         {x});
        }
      }
    }
  }
  // Training without running statistics (track_running_stats=false).
  auto x = rand64({6, 4}, 85);
  RESA_GRADCHECK(Fn([](auto& v) { return batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true); }), {x});
}

TEST_CASE("batch_norm in training normalises each channel to mean 0, variance 1 (closed form)") {
  auto x = rand64({8, 3, 4, 2}, 90, false);
  auto y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 0.0);
  auto mu = mean(y, {0, 2, 3}).to_vector<double>();
  auto var_b = mean(mul(y, y), {0, 2, 3}).to_vector<double>();
  for (int c = 0; c < 3; ++c) {
    CHECK(std::abs(mu[c]) < 1e-12);
    CHECK(var_b[c] == doctest::Approx(1.0).epsilon(1e-10));
  }
}

// ---------------------------------------------------------------- tier 2: PyTorch values (float32)

TEST_CASE("conv2d forward and backward match PyTorch") {
  for (std::string name :
       {"conv_s1p1", "conv_s2p0", "conv_s2p1_nobias", "conv_1x1", "conv_1x1_s2", "conv_2x3_dil2", "conv_wide"}) {
    CAPTURE(name);
    auto fx = load_fixture(name);
    bool bias = fx.meta["bias"].get<bool>();
    auto x = f32_leaf(fx, "x"), w = f32_leaf(fx, "w");
    Tensor b = bias ? f32_leaf(fx, "b") : Tensor();
    auto y = conv2d(x, w, b, conv_opts_of(fx));
    check_close(y, fx.get("y", DType::Float64), name + " y");
    y.backward(fx.get("gy"));
    check_close(x.grad(), fx.get("gx", DType::Float64), name + " gx");
    check_close(w.grad(), fx.get("gw", DType::Float64), name + " gw");
    if (bias) check_close(b.grad(), fx.get("gb", DType::Float64), name + " gb");
  }
}

TEST_CASE("max_pool2d and avg_pool2d match PyTorch") {
  for (std::string name :
       {"conv_maxpool_k3s2p1", "conv_maxpool_k2s2p0", "conv_avgpool_k3s2p1", "conv_avgpool_k2s1p0"}) {
    CAPTURE(name);
    auto fx = load_fixture(name);
    int64_t k = fx.meta["kernel"], s = fx.meta["stride"], p = fx.meta["padding"];
    auto x = f32_leaf(fx, "x");
    auto y = name.find("max") != std::string::npos ? max_pool2d(x, k, s, p) : avg_pool2d(x, k, s, p);
    check_close(y, fx.get("y", DType::Float64), name + " y");
    y.backward(fx.get("gy"));
    check_close(x.grad(), fx.get("gx", DType::Float64), name + " gx");
  }
}

TEST_CASE("batch_norm matches PyTorch in training (running stats updated) and eval") {
  for (std::string name : {"conv_bn_train_4d", "conv_bn_train_2d_noaffine", "conv_bn_eval_4d", "conv_bn_eval_2d"}) {
    CAPTURE(name);
    auto fx = load_fixture(name);
    bool training = fx.meta["training"], affine = fx.meta["affine"];
    double momentum = fx.meta["momentum"], eps = fx.meta["eps"];
    auto x = f32_leaf(fx, "x");
    Tensor w = affine ? f32_leaf(fx, "w") : Tensor(), b = affine ? f32_leaf(fx, "b") : Tensor();
    auto rm = fx.get("running_mean0"), rv = fx.get("running_var0");
    auto y = batch_norm(x, w, b, rm, rv, training, momentum, eps);
    CHECK_FALSE(rm.requires_grad());
    check_close(y, fx.get("y", DType::Float64), name + " y");
    check_close(rm, fx.get("running_mean", DType::Float64), name + " running_mean");
    check_close(rv, fx.get("running_var", DType::Float64), name + " running_var");
    y.backward(fx.get("gy"));
    check_close(x.grad(), fx.get("gx", DType::Float64), name + " gx");
    if (affine) {
      check_close(w.grad(), fx.get("gw", DType::Float64), name + " gw");
      check_close(b.grad(), fx.get("gb", DType::Float64), name + " gb");
    }
  }
}

// ---------------------------------------------------------------- errors

TEST_CASE("conv2d errors name the op and the shapes") {
  auto x = zeros({2, 3, 7, 5}), w = zeros({4, 2, 3, 3});
  RESA_CHECK_THROWS_WITH_SUBSTR(conv2d(x, w), "[conv2d] input (2, 3, 7, 5) has 3 channels but weight (4, 2, 3, 3)");
  RESA_CHECK_THROWS_WITH_SUBSTR(conv2d(x, zeros({4, 3, 3, 3}), zeros({5})),
                                "bias (5) does not match weight (4, 3, 3, 3)");
  // A 9-tall kernel does not fit 7 + 2 * 0 rows.
  RESA_CHECK_THROWS_WITH_SUBSTR(conv2d(x, zeros({4, 3, 9, 3})), "larger than the padded input (7, 5)");
  // Dilation 4 makes a 3x3 kernel span 9 rows, still too tall with padding 0 ...
  RESA_CHECK_THROWS_WITH_SUBSTR(conv2d(x, zeros({4, 3, 3, 1}), Tensor(), Conv2dOptions().dilation(4, 1)),
                                "spans (9, 1)");
  // ... but padding 1 makes room.
  CHECK(conv2d(x, zeros({4, 3, 3, 1}), Tensor(), Conv2dOptions().dilation(4, 1).padding(1, 0)).shape() ==
        Shape{2, 4, 1, 5});
  RESA_CHECK_THROWS_WITH_SUBSTR(conv2d(zeros({3, 7, 5}), zeros({4, 3, 3, 3})),
                                "[conv2d] expects a 4-D input (N, C, H, W), got (3, 7, 5)");
  RESA_CHECK_THROWS_WITH_SUBSTR(conv2d(x, zeros({4, 3, 3})), "4-D weight");
  RESA_CHECK_THROWS_WITH_SUBSTR(conv2d(x, zeros({4, 3, 3, 3}), Tensor(), Conv2dOptions().stride(0)), "stride");
  RESA_CHECK_THROWS_WITH_SUBSTR(conv2d(x, zeros({4, 3, 3, 3}, TensorOptions().dtype(DType::Float64))), "dtypes differ");
}

TEST_CASE("pooling and batch_norm errors name the op and the shapes") {
  RESA_CHECK_THROWS_WITH_SUBSTR(max_pool2d(zeros({3, 7, 5}), 2, 2), "[max_pool2d] expects a 4-D input");
  RESA_CHECK_THROWS_WITH_SUBSTR(avg_pool2d(zeros({1, 1, 2, 2}), 3, 1), "[avg_pool2d] kernel 3 is larger");
  RESA_CHECK_THROWS_WITH_SUBSTR(max_pool2d(zeros({1, 1, 5, 5}), 3, 1, 2), "padding 2");
  RESA_CHECK_THROWS_WITH_SUBSTR(adaptive_avg_pool2d_1x1(zeros({2, 3})), "[adaptive_avg_pool2d_1x1]");
  auto x = zeros({4, 3, 2, 2});
  RESA_CHECK_THROWS_WITH_SUBSTR(batch_norm(x, zeros({4}), Tensor(), Tensor(), Tensor(), true),
                                "[batch_norm] weight (4) does not match the 3 channels of input (4, 3, 2, 2)");
  RESA_CHECK_THROWS_WITH_SUBSTR(batch_norm(zeros({4, 3, 2}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                                "(N, C) or (N, C, H, W)");
  RESA_CHECK_THROWS_WITH_SUBSTR(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false), "eval mode needs");
  RESA_CHECK_THROWS_WITH_SUBSTR(batch_norm(zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                                "more than one value per channel");
}

TEST_CASE("batch_norm_relu gives the bits of relu(batch_norm) and of its gradients, training and eval") {
  for (bool training : {true, false}) {
    Generator g(71);
    auto opts = TensorOptions().dtype(DType::Float32);
    Tensor x0 = randn({6, 5, 7, 7}, opts, &g), w0 = randn({5}, opts, &g), b0 = randn({5}, opts, &g);
    Tensor gy = randn({6, 5, 7, 7}, opts, &g);
    Tensor rm = randn({5}, opts, &g), rv = randn({5}, opts, &g).abs() + 0.5;
    auto run = [&](bool fused) {
      Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
      Tensor rm1 = rm.clone(), rv1 = rv.clone();
      Tensor y = fused ? batch_norm_relu(x, w, b, rm1, rv1, training) : relu(batch_norm(x, w, b, rm1, rv1, training));
      y.backward(gy);
      return std::vector<Tensor>{y, x.grad(), w.grad(), b.grad(), rm1, rv1};
    };
    auto fused = run(true), composed = run(false);
    for (size_t i = 0; i < fused.size(); ++i) {
      INFO("training " << training << ", output " << i);
      CHECK(fused[i].to_vector<float>() == composed[i].to_vector<float>());
    }
  }
}
