// Tier 3: every op with a CUDA kernel against the CPU result, forward and backward, at sizes that are not
// multiples of the block size (1, 31, 257, 1000003 elements; (3, 5, 7) with broadcasting; transposed and
// strided inputs). Each case skips with a message where no CUDA device is present; the file also builds
// without the CUDA backend, where it checks that asking for a CUDA tensor fails with a clear error.
//
// Tolerance: relative error (max |gpu - cpu| / max |cpu|) <= 1e-5 everywhere. Elementwise arithmetic is
// IEEE-exact on both sides; exp/log/tanh/pow differ by a few ulps between libm and CUDA's math library;
// sums accumulate in double on both sides; float32 GEMMs add in a different order (TF32 is off by
// default; the TF32 case uses 5e-3, the precision of a 10-bit mantissa over k = 257 products).
#include <cmath>
#include <limits>

#include "cuda_test_util.h"
#include "resa/data/loader.h"
#include "resa/ops/elementwise.h"
#include "resa/ops/index.h"
#include "resa/ops/reduce.h"
#include "resa/ops/softmax.h"
#ifdef RESA_WITH_CUDA
#include "resa/ops/cuda/runtime.h"
#endif

using namespace resa;
using namespace resa::test;

namespace {

// Values away from zero (for div, log, sqrt, pow with negative exponents).
Tensor positive_cpu(const Shape& s, uint64_t seed, DType dt = DType::Float32) {
  return add(abs(randn_cpu(s, seed, dt)), 0.25);
}

// Exact equality (integer results, indices, comparisons, copies).
template <typename T>
void check_equal(const Tensor& gpu, const Tensor& cpu, const std::string& what = "") {
  INFO(what);
  REQUIRE(gpu.shape() == cpu.shape());
  auto g = gpu.to_vector<T>(), c = cpu.to_vector<T>();
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < c.size(); ++i)
    if (!(g[i] == c[i]) && !(g[i] != g[i] && c[i] != c[i])) {
      if (first < 0) first = static_cast<int64_t>(i);
      ++bad;
    }
  INFO("mismatches: " << bad << " first at " << first);
  CHECK(bad == 0);
}

const std::vector<int64_t> kOddSizes = {1, 31, 257, 1000003};

}  // namespace

#ifndef RESA_WITH_CUDA
TEST_CASE("a CPU-only build refuses CUDA tensors with a clear error") {
  CHECK(cuda_device_count() == 0);
  CHECK_FALSE(cuda_available());
  RESA_CHECK_THROWS_WITH_SUBSTR(randn_cpu({3}, 1).to(kGPU), "no CUDA backend");
}
#else
TEST_CASE("without a CUDA device, CUDA tensors fail with a clear error") {
  if (cuda_device_count() > 0) {
    MESSAGE("a CUDA device is present: this case is for machines without one");
    return;
  }
  CHECK(cuda::device_count() == 0);
  RESA_CHECK_THROWS_WITH_SUBSTR(randn_cpu({3}, 1).to(kGPU), "no CUDA device is available");
  RESA_CHECK_THROWS_WITH_SUBSTR(zeros({2, 2}, TensorOptions().device(kGPU)), "no CUDA device is available");
}
#endif

TEST_CASE("cuda: binary ops at odd sizes, all dtypes") {
  SKIP_WITHOUT_CUDA();
  using ops::BinaryOp;
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (int64_t n : kOddSizes) {
      Tensor a = randn_cpu({n}, 11, dt), b = positive_cpu({n}, 12, dt);
      // Make some elements equal so that the comparisons see ties.
      a.narrow(0, 0, (n + 2) / 3).copy_(b.narrow(0, 0, (n + 2) / 3));
      Tensor ag = a.to(kGPU), bg = b.to(kGPU);
      for (BinaryOp op : ops::kBinaryOps)  // every row of the binary table (ops/elementwise_ops.h)
        check_close(ops::binary(op, ag, bg), ops::binary(op, a, b), 0.0,
                    std::string(ops::op_name(op)) + " n=" + std::to_string(n));
    }
  }
  // Integer dtypes: small values, exact.
  Tensor ai = arange(0, 257, 1, TensorOptions().dtype(DType::Int64));
  Tensor bi = add(mul(arange(0, 257, 1), 0.0), 7.0).to(DType::Int64);
  Tensor au = ai.to(DType::UInt8), bu = bi.to(DType::UInt8);
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Maximum, BinaryOp::Lt}) {
    check_equal<int64_t>(ops::binary(op, ai.to(kGPU), bi.to(kGPU)), ops::binary(op, ai, bi), ops::op_name(op));
    check_equal<uint8_t>(ops::binary(op, au.to(kGPU), bu.to(kGPU)), ops::binary(op, au, bu), ops::op_name(op));
  }
}

TEST_CASE("cuda: broadcasting, transposed and strided operands") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor x = randn_cpu({3, 5, 7}, 21, dt);
    Tensor col = randn_cpu({5, 1}, 22, dt), row = randn_cpu({1, 7}, 23, dt), s = randn_cpu({}, 24, dt);
    Tensor xt = randn_cpu({7, 5, 3}, 25, dt).permute({2, 1, 0});  // transposed view of (3, 5, 7)
    Tensor big = randn_cpu({6, 11, 15}, 26, dt);
    Tensor xs = big.slice(0, 1, 6, 2).slice(1, 0, 10, 2).slice(2, 3, 10);  // strided (3, 5, 7)
    Tensor xg = x.to(kGPU), colg = col.to(kGPU), rowg = row.to(kGPU), sg = s.to(kGPU);
    Tensor xtg = randn_cpu({7, 5, 3}, 25, dt).to(kGPU).permute({2, 1, 0});
    Tensor xsg = big.to(kGPU).slice(0, 1, 6, 2).slice(1, 0, 10, 2).slice(2, 3, 10);
    check_close(add(xg, colg), add(x, col), 0.0, "(3,5,7) + (5,1)");
    check_close(mul(xg, rowg), mul(x, row), 0.0, "(3,5,7) * (1,7)");
    check_close(sub(sg, xg), sub(s, x), 0.0, "() - (3,5,7)");
    check_close(div(xtg, add(abs(xsg), 0.5)), div(xt, add(abs(xs), 0.5)), 0.0, "transposed / strided");
    check_close(maximum(colg, rowg), maximum(col, row), 0.0, "(5,1) max (1,7)");
    check_close(add(xtg.unsqueeze(0), xsg.unsqueeze(1)), add(xt.unsqueeze(0), xs.unsqueeze(1)), 0.0,
                "(1,3,5,7) + (3,1,5,7)");
    Tensor cond = gt(x, zeros({}, TensorOptions().dtype(dt)));
    check_close(where(cond.to(kGPU), xtg, rowg), where(cond, xt, row), 0.0, "where");
    check_close(where(gt(colg, sg), xsg, sg), where(gt(col, s), xs, s), 0.0, "where broadcast");
  }
}

TEST_CASE("cuda: unary ops at odd sizes") {
  SKIP_WITHOUT_CUDA();
  using ops::UnaryOp;
  struct Case {
    UnaryOp op;
    double p0, p1;
    bool positive;
  };
  const Case cases[] = {
      {UnaryOp::Neg, 0, 0, false},         {UnaryOp::Exp, 0, 0, false},          {UnaryOp::Log, 0, 0, true},
      {UnaryOp::Sqrt, 0, 0, true},         {UnaryOp::Abs, 0, 0, false},          {UnaryOp::Relu, 0, 0, false},
      {UnaryOp::Sigmoid, 0, 0, false},     {UnaryOp::Tanh, 0, 0, false},         {UnaryOp::Pow, 2.0, 0, false},
      {UnaryOp::Pow, 3.0, 0, false},       {UnaryOp::Pow, -1.5, 0, true},        {UnaryOp::Clamp, -0.5, 0.7, false},
      {UnaryOp::AddScalar, 1.5, 0, false}, {UnaryOp::MulScalar, -2.5, 0, false}, {UnaryOp::RSub, 2.0, 0, false},
      {UnaryOp::RDiv, 3.0, 0, true},       {UnaryOp::Step, 0.1, 0, false}};
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (int64_t n : kOddSizes) {
      Tensor x = randn_cpu({n}, 31, dt), xp = positive_cpu({n}, 32, dt);
      Tensor xg = x.to(kGPU), xpg = xp.to(kGPU);
      for (const auto& c : cases) {
        const Tensor& in = c.positive ? xp : x;
        const Tensor& ing = c.positive ? xpg : xg;
        check_close(ops::unary(c.op, ing, c.p0, c.p1), ops::unary(c.op, in, c.p0, c.p1), 1e-5,
                    std::string(ops::op_name(c.op)) + " p0=" + std::to_string(c.p0) + " n=" + std::to_string(n));
      }
    }
    // A non-contiguous input is made contiguous first.
    Tensor x = randn_cpu({7, 5, 3}, 33, dt);
    check_close(exp(x.to(kGPU).transpose(0, 2)), exp(x.transpose(0, 2)), 1e-5, "exp of a transposed view");
  }
}

TEST_CASE("cuda: copies between all dtypes, layouts and devices") {
  SKIP_WITHOUT_CUDA();
  const DType all[] = {DType::Float32, DType::Float64, DType::Int64, DType::UInt8};
  // Integer-valued data in [0, 200] so that every conversion is exact.
  Tensor base = clamp(add(mul(randn_cpu({7, 5, 3}, 41, DType::Float64), 40.0), 100.0), 0.0, 200.0);
  base = base.to(DType::Int64).to(DType::Float64);  // truncate to integers
  for (DType src_dt : all) {
    Tensor src = base.to(src_dt);
    Tensor src_g = src.to(kGPU);
    for (DType dst_dt : all) {
      std::string what = fmt::format("{} -> {}", dtype_name(src_dt), dtype_name(dst_dt));
      // Contiguous and transposed sources, contiguous destination.
      check_equal<double>(src_g.to(dst_dt), src.to(dst_dt), what + " contiguous");
      check_equal<double>(src_g.permute({2, 0, 1}).to(dst_dt), src.permute({2, 0, 1}).to(dst_dt), what + " permuted");
      // Strided destination on the device.
      Tensor dst_g = Tensor::empty({3, 5, 7}, dst_dt, kGPU).permute({2, 1, 0});
      Tensor dst_c = Tensor::empty({3, 5, 7}, dst_dt, kCPU).permute({2, 1, 0});
      dst_g.copy_(src_g);
      dst_c.copy_(src);
      check_equal<double>(dst_g, dst_c, what + " into a permuted view");
    }
  }
  // Across devices into non-contiguous destinations, and broadcasting a row.
  Tensor src = randn_cpu({5, 7}, 42);
  Tensor dst_g = zeros({7, 5}, TensorOptions().device(kGPU)).t();
  dst_g.copy_(src);
  check_equal<float>(dst_g, src, "host -> transposed device view");
  Tensor dst_c = zeros({7, 5}).t();
  dst_c.copy_(src.to(kGPU).slice(0, 0, 5));
  check_equal<float>(dst_c, src, "device -> transposed host view");
  Tensor row = randn_cpu({7}, 43);
  Tensor filled = zeros({5, 7}, TensorOptions().device(kGPU));
  filled.copy_(row.to(kGPU));
  check_equal<float>(filled, row.unsqueeze(0).expand({5, 7}).contiguous(), "broadcast row");
  // Large flat copy with conversion.
  Tensor big = randn_cpu({1000003}, 44);
  check_equal<double>(big.to(kGPU).to(DType::Float64), big.to(DType::Float64), "1000003 float32 -> float64");
  CHECK(zeros({3}, TensorOptions().device(kGPU)).fill_(2.5).to_vector<float>() == std::vector<float>{2.5f, 2.5f, 2.5f});
}

TEST_CASE("cuda: reductions over every geometry") {
  SKIP_WITHOUT_CUDA();
  using ops::ReduceOp;
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;
  };
  // Each geometry reaches a different kernel: short r, rows by warps and by blocks, rows split in
  // segments, column tiles, column tiles split in segments, one thread per output for wide inner dims.
  const Case cases[] = {
      {{1}, {}},
      {{31}, {}},
      {{257}, {0}},
      {{1000003}, {}},
      {{3, 5, 7}, {0}},
      {{3, 5, 7}, {1}},
      {{3, 5, 7}, {2}},
      {{3, 5, 7}, {0, 2}},
      {{1000, 40}, {1}},
      {{3, 5000}, {1}},
      {{5, 70001}, {1}},
      {{257, 31}, {0}},
      {{2, 100003, 3}, {1}},
      {{40000, 65}, {0}},
      {{64, 33, 4001}, {1}},
      {{7, 3, 301}, {0, 2}},
  };
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (const auto& c : cases) {
      Tensor x = randn_cpu(c.shape, 51, dt);
      Tensor xg = x.to(kGPU);
      std::string what = shape_str(c.shape) + " dims " + fmt::format("{}", fmt::join(c.dims, ","));
      for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min}) {
        check_close(ops::reduce(op, xg, c.dims, false), ops::reduce(op, x, c.dims, false), 1e-5, what);
        check_close(ops::reduce(op, xg, c.dims, true), ops::reduce(op, x, c.dims, true), 1e-5, what + " keepdim");
      }
      if (c.dims.size() == 1) {
        // Integer-valued data has many ties: the first maximal index must win on both devices.
        Tensor ties = mul(x, 2.0).to(DType::Int64).to(dt);
        check_equal<int64_t>(ops::reduce(ReduceOp::ArgMax, ties.to(kGPU), c.dims, false),
                             ops::reduce(ReduceOp::ArgMax, ties, c.dims, false), what + " argmax with ties");
        check_equal<int64_t>(ops::reduce(ReduceOp::ArgMax, xg, c.dims, true),
                             ops::reduce(ReduceOp::ArgMax, x, c.dims, true), what + " argmax");
      }
    }
  }
  // A transposed input is permuted and copied before reducing.
  Tensor x = randn_cpu({7, 5, 3}, 52);
  check_close(sum(x.to(kGPU).permute({2, 0, 1}), {0, 2}), sum(x.permute({2, 0, 1}), {0, 2}), 1e-5, "permuted sum");
  // NaN propagates through max and argmax (the first NaN), as on the CPU.
  std::vector<float> v(3 * 70001, 1.0f);
  v[5] = 7.0f;
  v[70001 + 60000] = std::numeric_limits<float>::quiet_NaN();
  v[70001 + 69999] = std::numeric_limits<float>::quiet_NaN();
  Tensor xn = from_vector(v, {3, 70001});
  check_equal<float>(ops::reduce(ReduceOp::Max, xn.to(kGPU), {1}, false), ops::reduce(ReduceOp::Max, xn, {1}, false),
                     "max with NaN");
  check_equal<int64_t>(ops::reduce(ReduceOp::ArgMax, xn.to(kGPU), {1}, false),
                       ops::reduce(ReduceOp::ArgMax, xn, {1}, false), "argmax with NaN");
}

TEST_CASE("cuda: matmul on cuBLAS, transposed and batched operands") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    int64_t m, k, n;
  };
  const Case cases[] = {{1, 1, 1}, {31, 17, 1}, {1, 257, 31}, {257, 31, 129}, {1000, 257, 333}};
  for (DType dt : {DType::Float32, DType::Float64}) {
    const double tol = dt == DType::Float32 ? 1e-5 : 1e-12;
    for (const auto& c : cases) {
      std::string what = fmt::format("{}x{}x{} {}", c.m, c.k, c.n, dtype_name(dt));
      Tensor a = randn_cpu({c.m, c.k}, 61, dt), b = randn_cpu({c.k, c.n}, 62, dt);
      Tensor at = randn_cpu({c.k, c.m}, 63, dt), bt = randn_cpu({c.n, c.k}, 64, dt);
      Tensor ag = a.to(kGPU), bg = b.to(kGPU), atg = at.to(kGPU), btg = bt.to(kGPU);
      check_close(matmul(ag, bg), matmul(a, b), tol, what + " NN");
      check_close(matmul(atg.t(), bg), matmul(at.t(), b), tol, what + " TN");
      check_close(matmul(ag, btg.t()), matmul(a, bt.t()), tol, what + " NT");
      check_close(matmul(atg.t(), btg.t()), matmul(at.t(), bt.t()), tol, what + " TT");
    }
    // Batched with a broadcast batch dim, and a strided (column-sliced) operand that must be copied.
    Tensor a = randn_cpu({3, 31, 17}, 65, dt), b = randn_cpu({17, 5}, 66, dt), w = randn_cpu({5, 40}, 67, dt);
    check_close(matmul(a.to(kGPU), b.to(kGPU)), matmul(a, b), tol, "batched (3,31,17) x (17,5)");
    check_close(matmul(b.to(kGPU), w.to(kGPU).slice(1, 1, 40, 3)), matmul(b, w.slice(1, 1, 40, 3)), tol,
                "strided column slice");
  }
}

#ifdef RESA_WITH_CUDA
TEST_CASE("cuda: TF32 GEMMs are opt-in and stay close") {
  SKIP_WITHOUT_CUDA();
  Tensor a = randn_cpu({129, 257}, 71), b = randn_cpu({257, 65}, 72);
  Tensor ref = matmul(a, b);
  CHECK_FALSE(cuda::allow_tf32());
  cuda::set_allow_tf32(true);
  Tensor got = matmul(a.to(kGPU), b.to(kGPU));
  cuda::set_allow_tf32(false);
  check_close(got, ref, 5e-3, "TF32 129x257x65");
}
#endif

TEST_CASE("cuda: the same autograd graph gives the same gradients on both devices") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : {DType::Float64, DType::Float32}) {
    const double tol = dt == DType::Float64 ? 1e-10 : 1e-5;
    Tensor x = randn_cpu({31, 17}, 81, dt), w = randn_cpu({13, 17}, 82, dt), b = randn_cpu({13}, 83, dt);
    Tensor s = randn_cpu({31, 1}, 84, dt);
    auto graph = [](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& s) {
      Tensor h = relu(matmul(x, w.t()) + b);                     // (31, 13), broadcast bias
      Tensor g = sigmoid(h * s) + tanh(h - 0.5) * exp(-abs(h));  // broadcast column scale
      Tensor m = max(g, 1, true);                                // (31, 1)
      Tensor v = var(g, {0});                                    // (13)
      Tensor n = sqrt(sum(pow(g, 2.0), {1}) + 1.0);              // (31)
      Tensor c = clamp(g.transpose(0, 1), -0.2, 0.9);            // transposed view
      return sum(g / (m + 1.0)) + mean(v * 3.0) + sum(log(n)) + mean(c) + sum(maximum(h, g.detach()));
    };
    std::vector<Tensor> cpu_in = {x, w, b, s}, gpu_in;
    for (auto& t : cpu_in) {
      gpu_in.push_back(t.to(kGPU).requires_grad_());
      t.requires_grad_();
    }
    Tensor lc = graph(cpu_in[0], cpu_in[1], cpu_in[2], cpu_in[3]);
    Tensor lg = graph(gpu_in[0], gpu_in[1], gpu_in[2], gpu_in[3]);
    check_close(lg, lc, tol, "loss");
    lc.backward();
    lg.backward();
    const char* names[] = {"x", "w", "b", "s"};
    for (size_t i = 0; i < cpu_in.size(); ++i) {
      REQUIRE(gpu_in[i].grad().defined());
      CHECK(gpu_in[i].grad().device().is_cuda());
      check_close(gpu_in[i].grad(), cpu_in[i].grad(), tol,
                  std::string("grad of ") + names[i] + " " + std::string(dtype_name(dt)));
    }
  }
}

TEST_CASE("cuda: softmax and log_softmax forward and backward along every kind of dim") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    Shape shape;
    int64_t dim;
  };
  // Rows by warps (n <= 1024) and by blocks, one huge row, and columns (the dim not innermost).
  const Case cases[] = {{{1}, 0},       {{31}, 0},      {{257, 1000}, 1}, {{3, 2049}, 1}, {{1000003}, 0},
                        {{3, 5, 7}, 0}, {{3, 5, 7}, 1}, {{3, 5, 7}, 2},   {{257, 31}, 0}};
  for (DType dt : {DType::Float32, DType::Float64}) {
    const double tol = dt == DType::Float32 ? 1e-5 : 1e-12;
    for (const auto& c : cases) {
      std::string what = shape_str(c.shape) + " dim " + std::to_string(c.dim) + " " + std::string(dtype_name(dt));
      Tensor x = mul(randn_cpu(c.shape, 101, dt), 3.0), g = randn_cpu(c.shape, 102, dt);
      Tensor xg = x.to(kGPU), gg = g.to(kGPU);
      for (bool log : {false, true}) {
        Tensor y = log ? ops::log_softmax(x, c.dim) : ops::softmax(x, c.dim);
        Tensor yg = log ? ops::log_softmax(xg, c.dim) : ops::softmax(xg, c.dim);
        check_close(yg, y, tol, what + (log ? " log_softmax" : " softmax"));
        // Backward from the same y (the CPU one, copied), so only the backward kernel is compared.
        Tensor dx = log ? ops::log_softmax_backward(g, y, c.dim) : ops::softmax_backward(g, y, c.dim);
        Tensor dxg =
            log ? ops::log_softmax_backward(gg, y.to(kGPU), c.dim) : ops::softmax_backward(gg, y.to(kGPU), c.dim);
        check_close(dxg, dx, tol, what + (log ? " log_softmax backward" : " softmax backward"));
      }
    }
    // A transposed input, through autograd.
    Tensor x = randn_cpu({7, 5, 3}, 103, dt).requires_grad_();
    Tensor xg = x.detach().to(kGPU).requires_grad_();
    Tensor w = randn_cpu({3, 5, 7}, 104, dt);
    Tensor lc = sum(softmax(x.transpose(0, 2), 1) * w), lg = sum(softmax(xg.transpose(0, 2), 1) * w.to(kGPU));
    check_close(lg, lc, tol, "softmax of a transposed view");
    lc.backward();
    lg.backward();
    check_close(xg.grad(), x.grad(), tol, "grad of softmax of a transposed view");
  }
}

TEST_CASE("cuda: cross-entropies, hard and soft, forward and backward") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    int64_t N, C;
  };
  const Case cases[] = {{1, 1}, {31, 17}, {257, 1000}, {5, 2049}};
  for (DType dt : {DType::Float32, DType::Float64}) {
    const double tol = dt == DType::Float32 ? 1e-5 : 1e-12;
    for (const auto& c : cases) {
      std::string what = fmt::format("N={} C={} {}", c.N, c.C, dtype_name(dt));
      std::vector<int64_t> lab(static_cast<size_t>(c.N));
      Generator gen(111);
      for (auto& l : lab) l = static_cast<int64_t>(gen.randint(static_cast<uint64_t>(c.C)));
      Tensor labels = from_vector(lab, {c.N});
      Tensor x = mul(randn_cpu({c.N, c.C}, 112, dt), 4.0).requires_grad_();
      Tensor xg = x.detach().to(kGPU).requires_grad_();
      Tensor l = cross_entropy(x, labels), lg = cross_entropy(xg, labels.to(kGPU));
      check_close(lg, l, tol, what + " hard loss");
      (l * 1.7).backward();
      (lg * 1.7).backward();
      check_close(xg.grad(), x.grad(), tol, what + " hard grad");

      Tensor t = softmax(randn_cpu({c.N, c.C}, 113, dt), 1).detach().requires_grad_();
      Tensor tg = t.detach().to(kGPU).requires_grad_();
      x.zero_grad();
      xg.zero_grad();
      Tensor s = cross_entropy_soft(x, t), sg = cross_entropy_soft(xg, tg);
      check_close(sg, s, tol, what + " soft loss");
      s.backward();
      sg.backward();
      check_close(xg.grad(), x.grad(), tol, what + " soft grad of logits");
      check_close(tg.grad(), t.grad(), tol, what + " soft grad of target");
    }
  }
  Tensor bad = from_vector(std::vector<int64_t>{0, 31}, {2});
  RESA_CHECK_THROWS_WITH_SUBSTR(cross_entropy(randn_cpu({2, 31}, 114).to(kGPU), bad.to(kGPU)),
                                "label 31 at row 1 is out of range for C = 31");
}

TEST_CASE("cuda: index_select, index_add, gather, scatter_add and their gradients") {
  SKIP_WITHOUT_CUDA();
  auto random_index = [](int64_t count, int64_t n, uint64_t seed) {
    std::vector<int64_t> v(static_cast<size_t>(count));
    Generator gen(seed);
    for (auto& x : v) x = static_cast<int64_t>(gen.randint(static_cast<uint64_t>(n)));
    return v;
  };
  for (DType dt : {DType::Float32, DType::Float64}) {
    // index_select / index_add_ along each dim of (3, 5, 7), repeated indices included.
    Tensor x = randn_cpu({3, 5, 7}, 121, dt);
    for (int64_t d = 0; d < 3; ++d) {
      const int64_t n = x.shape()[d];
      Tensor index = from_vector(random_index(2 * n + 1, n, 122 + d), {2 * n + 1});
      std::string what = "dim " + std::to_string(d) + " " + std::string(dtype_name(dt));
      Tensor sel = ops::index_select(x, d, index);
      check_close(ops::index_select(x.to(kGPU), d, index.to(kGPU)), sel, 0.0, "index_select " + what);
      Tensor src = randn_cpu(sel.shape(), 123, dt);
      Tensor dst = randn_cpu(x.shape(), 124, dt), dst_g = dst.to(kGPU);
      ops::index_add_(dst, d, index, src);
      ops::index_add_(dst_g, d, index.to(kGPU), src.to(kGPU));
      check_close(dst_g, dst, 0.0, "index_add " + what);  // same order of additions: exact
      // gather / scatter_add_ with an index smaller than x on the other dims.
      Shape ishape = {2, 4, 6};
      ishape[static_cast<size_t>(d)] = 9;
      Tensor gidx = from_vector(random_index(numel_of(ishape), n, 125 + d), ishape);
      check_close(ops::gather(x.to(kGPU), d, gidx.to(kGPU)), ops::gather(x, d, gidx), 0.0, "gather " + what);
      check_close(ops::gather(x.to(kGPU).transpose(0, 2).transpose(0, 2), d, gidx.to(kGPU)), ops::gather(x, d, gidx),
                  0.0, "gather through strides " + what);
      Tensor ssrc = randn_cpu(ishape, 126, dt);
      Tensor sdst = randn_cpu(x.shape(), 127, dt), sdst_g = sdst.to(kGPU);
      ops::scatter_add_(sdst, d, gidx, ssrc);
      ops::scatter_add_(sdst_g, d, gidx.to(kGPU), ssrc.to(kGPU));
      check_close(sdst_g, sdst, 0.0, "scatter_add " + what);
    }
    // Large index_select (embedding-like rows) and its gradient through autograd.
    Tensor table = randn_cpu({1001, 31}, 128, dt).requires_grad_();
    Tensor table_g = table.detach().to(kGPU).requires_grad_();
    Tensor rows = from_vector(random_index(4097, 1001, 129), {4097});
    Tensor w = randn_cpu({4097, 31}, 130, dt);
    Tensor l = sum(index_select(table, 0, rows) * w), lg = sum(index_select(table_g, 0, rows.to(kGPU)) * w.to(kGPU));
    check_close(lg, l, dt == DType::Float32 ? 1e-5 : 1e-12, "index_select loss");
    l.backward();
    lg.backward();
    check_close(table_g.grad(), table.grad(), dt == DType::Float32 ? 1e-5 : 1e-12, "index_select grad");
    Tensor gx = randn_cpu({257, 33}, 131, dt).requires_grad_();
    Tensor gx_g = gx.detach().to(kGPU).requires_grad_();
    Tensor gi = from_vector(random_index(257 * 5, 33, 132), {257, 5});
    Tensor gl = sum(gather(gx, 1, gi) * 1.5), gl_g = sum(gather(gx_g, 1, gi.to(kGPU)) * 1.5);
    gl.backward();
    gl_g.backward();
    check_close(gx_g.grad(), gx.grad(), 0.0, "gather grad");
  }
  Tensor bad = from_vector(std::vector<int64_t>{0, 5}, {2});
  RESA_CHECK_THROWS_WITH_SUBSTR(ops::index_select(randn_cpu({3, 5}, 133).to(kGPU), 1, bad.to(kGPU)),
                                "index 5 (at position 1) is out of range for dim 1 of size 5");
}

TEST_CASE("cuda: random tensors on the device equal the CPU ones bit for bit") {
  SKIP_WITHOUT_CUDA();
  for (DType dt : {DType::Float32, DType::Float64}) {
    Generator g1(7), g2(7);
    Tensor c = randn({257, 3}, TensorOptions().dtype(dt), &g1);
    Tensor d = randn({257, 3}, TensorOptions().dtype(dt).device(kGPU), &g2);
    CHECK(d.device().is_cuda());
    check_equal<double>(d, c, "randn");
    Tensor u1 = rand({1001}, TensorOptions().dtype(dt), &g1),
           u2 = rand({1001}, TensorOptions().dtype(dt).device(kGPU), &g2);
    check_equal<double>(u2, u1, "rand after randn (same stream position)");
  }
}

TEST_CASE("cuda: mixing devices names the op and both devices") {
  SKIP_WITHOUT_CUDA();
  Tensor a = randn_cpu({3, 5}, 91), b = randn_cpu({3, 5}, 92).to(kGPU);
  RESA_CHECK_THROWS_WITH_SUBSTR(add(a, b), "[add] tensors are on different devices");
  RESA_CHECK_THROWS_WITH_SUBSTR(matmul(a, b.t()), "[matmul] tensors are on different devices");
  RESA_CHECK_THROWS_WITH_SUBSTR(add(a, b), "cuda:0");
}

#ifdef RESA_WITH_CUDA
TEST_CASE("cuda: the caching allocator reuses freed blocks and reports its statistics") {
  SKIP_WITHOUT_CUDA();
  cuda::synchronize();
  // Warm up the buckets this loop uses, then check that it calls cudaMalloc no more.
  auto step = [] {
    Tensor a = zeros({1000003}, TensorOptions().device(kGPU));
    Tensor b = zeros({257, 31}, TensorOptions().device(kGPU));
    Tensor c = add(a, 1.0);
    return sum(c).item() + sum(b).item();
  };
  CHECK(step() == doctest::Approx(1000003.0));
  auto before = cuda::allocator_stats();
  for (int i = 0; i < 20; ++i) step();
  auto after = cuda::allocator_stats();
  CHECK(after.num_allocs == before.num_allocs);
  CHECK(after.current == before.current);
  CHECK(after.cached >= size_t{1000003} * 4);
  CHECK(after.peak >= after.current + size_t{1000003} * 4);
  {
    Tensor held = zeros({1000003}, TensorOptions().device(kGPU));
    CHECK(cuda::allocator_stats().current >= after.current + size_t{1000003} * 4);
  }
  cuda::empty_cache();
  CHECK(cuda::allocator_stats().cached == 0);
  // After the cache is released, the next allocation goes to the driver again.
  auto released = cuda::allocator_stats();
  Tensor again = zeros({1000003}, TensorOptions().device(kGPU));
  CHECK(cuda::allocator_stats().num_allocs == released.num_allocs + 1);
}

TEST_CASE("cuda: out of memory names the bytes asked for and the bytes free") {
  SKIP_WITHOUT_CUDA();
  // 2^46 float32 = 2^48 bytes (256 TiB): more than any device has.
  RESA_CHECK_THROWS_WITH_SUBSTR(Tensor::empty({int64_t{1} << 46}, DType::Float32, kGPU),
                                "asked for 281474976710656 bytes");
  RESA_CHECK_THROWS_WITH_SUBSTR(Tensor::empty({int64_t{1} << 46}, DType::Float32, kGPU), "bytes free of");
  // The device still works afterwards.
  CHECK(sum(ones({31}, TensorOptions().device(kGPU))).item() == 31.0);
}

TEST_CASE("cuda: pinned host buffers round-trip through the device") {
  SKIP_WITHOUT_CUDA();
  const size_t n = 1000003;
  auto* host = static_cast<float*>(cuda::alloc_pinned(n * sizeof(float)));
  for (size_t i = 0; i < n; ++i) host[i] = static_cast<float>(i % 1000) * 0.5f;
  Tensor dev = Tensor::empty({static_cast<int64_t>(n)}, DType::Float32, kGPU);
  cuda::copy_bytes(dev.raw_data(), true, host, false, n * sizeof(float));
  Tensor doubled = mul(dev, 2.0);
  cuda::copy_bytes(host, false, doubled.raw_data(), true, n * sizeof(float));
  bool ok = true;
  for (size_t i = 0; i < n && ok; ++i) ok = host[i] == static_cast<float>(i % 1000);
  CHECK(ok);
  cuda::free_pinned(host);
}
// ---- pinned host memory: asynchronous copies and their fence ----

namespace {

// Largest |x - value| over all elements of a device tensor.
double max_off(const Tensor& x, double value) { return max(abs(add(x, -value))).item(); }

// Device work queued ahead of a copy, so that the copy is still pending (or running) when the host goes
// on: a host write that skipped the fence would then land in the bytes the copy has yet to read.
Tensor keep_gpu_busy(const Tensor& a) { return matmul(matmul(a, a), a); }

}  // namespace

TEST_CASE("cuda: pinned tensors are pinned and copy to the device and back exactly") {
  SKIP_WITHOUT_CUDA();
  REQUIRE(pinned_allocator() != nullptr);
  const int64_t n = 1000003;
  Tensor host = Tensor::empty_pinned({n});
  CHECK(host.is_pinned());
  CHECK(host.storage()->pinned());
  CHECK(cuda::is_pinned(host.raw_data()));
  CHECK(cuda::is_pinned(host.data<float>() + n - 1));  // any pointer inside the block
  CHECK_FALSE(Tensor::empty({n}).is_pinned());
  CHECK(cuda::pinned_allocator_stats().current >= static_cast<size_t>(n) * 4);
  host.copy_(randn_cpu({n}, 301));
  Tensor dev = host.to(kGPU);  // asynchronous
  check_equal<float>(dev, host, "whole pinned tensor");
  // A view at an offset inside the block (the asynchronous path too), and views that need staging.
  Tensor part = host.narrow(0, 17, 257);
  check_equal<float>(part.to(kGPU), part, "offset view");
  Tensor grid = host.narrow(0, 0, 31 * 257).reshape({31, 257});
  check_equal<float>(grid.t().to(kGPU), grid.t().contiguous(), "transposed view");
  check_equal<double>(grid.to(DType::Float64).to(kGPU), grid.to(DType::Float64), "other dtype");
  // Device to pinned host: synchronous, readable at once.
  Tensor back = Tensor::empty_pinned({n});
  back.copy_(mul(dev, 2.0));
  check_equal<float>(mul(host, 2.0).to(kGPU), back, "device to pinned host");
}

TEST_CASE("cuda: a pinned buffer rewritten after the fence: each device copy holds the value it was issued with") {
  SKIP_WITHOUT_CUDA();
  const int64_t n = int64_t{1} << 22;  // 16 MiB: a copy long enough to overlap the next host write
  Tensor a = randn_cpu({1024, 1024}, 302).to(kGPU);
  Tensor host = Tensor::empty_pinned({n});
  REQUIRE(host.is_pinned());
  std::vector<Tensor> copies;
  for (int k = 0; k < 24; ++k) {
    wait_host_buffer(host.raw_data());  // what the loader does before refilling a slot
    host.fill_(static_cast<double>(k));
    Tensor busy = keep_gpu_busy(a);
    copies.push_back(host.to(kGPU));
  }
  for (int k = 0; k < 24; ++k) {
    INFO("copy " << k);
    CHECK(max_off(copies[static_cast<size_t>(k)], k) == 0.0);
  }

  // The allocator's fence: a pinned block freed while its copy is queued is handed out again only after
  // the copy has read it.
  std::vector<Tensor> first;
  for (int k = 0; k < 8; ++k) {
    Tensor busy = keep_gpu_busy(a);
    Tensor src = Tensor::empty_pinned({n});
    src.fill_(100.0 + k);
    first.push_back(src.to(kGPU));
  }  // each src is freed with its copy maybe still queued; the next empty_pinned reuses its block
  Tensor reused = Tensor::empty_pinned({n});
  reused.fill_(-1.0);
  for (int k = 0; k < 8; ++k) {
    INFO("freed source " << k);
    CHECK(max_off(first[static_cast<size_t>(k)], 100.0 + k) == 0.0);
  }
  cuda::empty_pinned_cache();
  CHECK(cuda::pinned_allocator_stats().cached == 0);
}

TEST_CASE("cuda: a pin_memory loader feeds the device the same batches as an ordinary one") {
  SKIP_WITHOUT_CUDA();
  auto ds = synthetic_dataset(40 * 16, 3, 32, 32, 10);
  std::vector<data::ViewConfig> views{data::ViewConfig::weak(32), data::ViewConfig::strong(32)};
  auto opts = data::LoaderOptions().batch_size(64).num_workers(2).prefetch(2).seed(9);
  data::Loader plain(ds, views, opts);
  data::Loader pinned(ds, views, data::LoaderOptions(opts).pin_memory(true));
  Tensor a = randn_cpu({1024, 1024}, 303).to(kGPU);
  for (int64_t epoch : {0, 1}) {
    plain.start_epoch(epoch);
    pinned.start_epoch(epoch);
    std::vector<std::vector<Tensor>> on_gpu;
    std::vector<std::vector<Tensor>> want;
    // As the trainer does: copy each view, queue work, drop the batch (its slot is refilled while the
    // copies may still be queued: the loader's fence must hold the worker back).
    while (auto b = pinned.next()) {
      REQUIRE(b->views.size() == 2);
      CHECK(b->views[0].is_pinned());
      CHECK(b->labels.is_pinned());
      Tensor busy = keep_gpu_busy(a);
      std::vector<Tensor> dev;
      for (auto& v : b->views) dev.push_back(v.to(kGPU));
      on_gpu.push_back(dev);
    }
    while (auto b = plain.next()) want.push_back(b->views);
    REQUIRE(on_gpu.size() == want.size());
    CHECK(on_gpu.size() == 10);
    for (size_t k = 0; k < want.size(); ++k)
      for (size_t v = 0; v < 2; ++v) check_equal<float>(on_gpu[k][v], want[k][v], "epoch batch view");
  }
}
#endif
