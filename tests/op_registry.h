// The registry of op cases: every op of the engine listed once, with its inputs (shapes, seeds, kinds),
// the dtypes it takes, and what it can be checked against. tests/test_op_registry.cpp runs every row in
// every mode that applies to it:
//   - table:     every row of the op tables (ops/elementwise_ops.h) is covered by some row here, so a new
//                unary or binary op without a row fails, naming the op;
//   - gradcheck: float64 central differences (autograd/gradcheck.h) for rows with a gradient;
//   - reference: elementwise rows against a scalar formula in double, float64 and float32;
//   - fixture:   against PyTorch's values (tests/fixtures/*.json) where a fixture exists, float32 at 1e-5;
//   - cuda:      the CUDA result against the CPU one, forward and gradients, float32 and float64 (skipped
//                with a message where there is no CUDA device).
// Adding an op: one OpCase in op_registry() below (docs/DESIGN.md, "The op registry").
#pragma once
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "resa/ops/elementwise.h"
#include "test_util.h"

namespace resa::test {

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

// One input of a case: generated from a seed (float64, then converted to the mode's dtype).
struct OpInput {
  enum Kind { Normal, Positive, Rounded, Labels };
  Shape shape;
  uint64_t seed = 0;
  Kind kind = Normal;
  double offset = 0.0;  // Positive: |randn| + offset
  int64_t classes = 0;  // Labels: int64 values in [0, classes)
  bool grad = true;     // whether the gradient modes differentiate it (never for labels)
};
inline OpInput normal(Shape s, uint64_t seed) { return {std::move(s), seed}; }
inline OpInput positive(Shape s, uint64_t seed, double offset) {
  return {std::move(s), seed, OpInput::Positive, offset};
}
// Multiples of 0.5 in [-2, 2]: ties for the comparisons.
inline OpInput rounded(Shape s, uint64_t seed) { return {std::move(s), seed, OpInput::Rounded}; }
inline OpInput labels(Shape s, int64_t classes) { return {std::move(s), 0, OpInput::Labels, 0.0, classes, false}; }
inline OpInput constant(OpInput in) {
  in.grad = false;
  return in;
}

// A fixture of PyTorch values for a case: tensor names in the fixture file.
struct FixtureCase {
  std::string file;
  std::vector<std::string> inputs;  // in the row's input order
  std::string output;
  std::string cotangent;           // the gradient of the output; "" for a scalar output's backward()
  std::vector<std::string> grads;  // reference gradients, in input order; "" where there is none
  OpFn fn = nullptr;               // when the fixture needs other parameters than the row's fn
};

struct OpCase {
  std::string name;                 // unique; what failures print
  std::vector<std::string> covers;  // the op-table names (ops::op_name) this row exercises
  std::vector<OpInput> inputs;
  OpFn fn;
  bool differentiable = true;
  std::vector<DType> dtypes = {DType::Float32, DType::Float64};
  // Elementwise rows: the value of one output element from its input elements (in double).
  std::function<double(const std::vector<double>&)> reference = nullptr;
  std::vector<FixtureCase> fixtures = {};
  double cuda_tol = 1e-5;  // relative error of CUDA against CPU (0: bit-exact)
};

// The inputs of `c` for a mode: `dtype` for floating inputs (labels stay int64), on the CPU, leaves that
// require grad where `with_grad` and the input is differentiable.
inline std::vector<Tensor> make_inputs(const OpCase& c, DType dtype, bool with_grad) {
  std::vector<Tensor> out;
  for (const OpInput& in : c.inputs) {
    Tensor t;
    switch (in.kind) {
      case OpInput::Normal:
        t = rand64(in.shape, in.seed, false);
        break;
      case OpInput::Positive:
        t = add(abs(rand64(in.shape, in.seed, false)), in.offset);
        break;
      case OpInput::Rounded: {
        auto v = rand64(in.shape, in.seed, false).to_vector<double>();
        for (double& e : v) e = std::round(std::clamp(e, -1.0, 1.0) * 4.0) / 2.0;
        t = from_vector<double>(v, in.shape);
        break;
      }
      case OpInput::Labels: {
        std::vector<int64_t> v(static_cast<size_t>(numel_of(in.shape)));
        for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>((i * 7 + 3) % in.classes);
        out.push_back(from_vector<int64_t>(v, in.shape));
        continue;
      }
    }
    t = t.to(dtype).detach();
    if (with_grad && c.differentiable && in.grad) t.requires_grad_();
    out.push_back(t);
  }
  return out;
}

// Every op case. Inputs of the elementwise gradchecks are those tests/test_autograd.cpp used before the
// registry took them over (same shapes and seeds).
inline const std::vector<OpCase>& op_registry() {
  using ops::BinaryOp;
  using ops::UnaryOp;
  using V = std::vector<double>;
  using T = std::vector<Tensor>;
  // Binary: (3, 1, 5) with (4, 1), broadcast to (3, 4, 5); unary: (3, 7).
  const OpInput a = normal({3, 1, 5}, 1), b = normal({4, 1}, 2), bpos = positive({4, 1}, 3, 0.5);
  const OpInput x = normal({3, 7}, 4), xpos = positive({3, 7}, 5, 0.3);
  const OpInput ra = rounded({3, 1, 5}, 1), rb = rounded({4, 1}, 2);
  const std::vector<DType> all_dtypes = {DType::Float32, DType::Float64, DType::Int64, DType::UInt8};
  auto cmp = [&](const char* name, Tensor (*f)(const Tensor&, const Tensor&), bool (*r)(double, double)) {
    return OpCase{name,
                  {name},
                  {ra, rb},
                  [f](const T& v) { return f(v[0], v[1]); },
                  false,
                  all_dtypes,
                  [r](const V& e) { return r(e[0], e[1]) ? 1.0 : 0.0; },
                  {},
                  0.0};
  };
  // The four cases of the loss_softmax fixture (name, dim) for softmax or log_softmax.
  auto softmax_fixtures = [](const std::string& out, Tensor (*f)(const Tensor&, int64_t)) {
    std::vector<FixtureCase> cases;
    for (auto [name, dim] : {std::pair<std::string, int64_t>{"a", 1}, {"b", 0}, {"c", 1}, {"d", -1}})
      cases.push_back({"loss_softmax",
                       {name + "_x"},
                       name + "_" + out,
                       name + "_r",
                       {name + "_" + out + "_grad"},
                       [f, d = dim](const T& v) { return f(v[0], d); }});
    return cases;
  };
  static const std::vector<OpCase> rows = {
      // ---- binary table (ops/elementwise_ops.h, RESA_BINARY_OPS) ----
      {"add",
       {"add"},
       {a, b},
       [](const T& v) { return add(v[0], v[1]); },
       true,
       all_dtypes,
       [](const V& e) { return e[0] + e[1]; },
       {},
       0.0},
      {"sub",
       {"sub"},
       {a, b},
       [](const T& v) { return sub(v[0], v[1]); },
       true,
       all_dtypes,
       [](const V& e) { return e[0] - e[1]; },
       {},
       0.0},
      {"mul",
       {"mul"},
       {a, b},
       [](const T& v) { return mul(v[0], v[1]); },
       true,
       all_dtypes,
       [](const V& e) { return e[0] * e[1]; },
       {},
       0.0},
      {"div",
       {"div"},
       {a, bpos},
       [](const T& v) { return div(v[0], v[1]); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return e[0] / e[1]; },
       {},
       0.0},
      {"maximum",
       {"maximum"},
       {a, b},
       [](const T& v) { return maximum(v[0], v[1]); },
       true,
       all_dtypes,
       [](const V& e) { return e[0] >= e[1] ? e[0] : e[1]; },
       {},
       0.0},
      cmp("eq", eq, [](double p, double q) { return p == q; }),
      cmp("ne", ne, [](double p, double q) { return p != q; }),
      cmp("lt", lt, [](double p, double q) { return p < q; }),
      cmp("le", le, [](double p, double q) { return p <= q; }),
      cmp("gt", gt, [](double p, double q) { return p > q; }),
      cmp("ge", ge, [](double p, double q) { return p >= q; }),
      {"mask_positive",
       {"mask_positive"},
       {a, rb},
       [](const T& v) { return ops::binary(BinaryOp::MaskPositive, v[0], v[1]); },
       false,
       all_dtypes,
       [](const V& e) { return e[1] > 0 ? e[0] : 0.0; },
       {},
       0.0},
      {"add_relu",
       {"add_relu"},
       {a, b},
       [](const T& v) { return add_relu(v[0], v[1]); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return e[0] + e[1] > 0 ? e[0] + e[1] : 0.0; },
       {},
       0.0},
      {"where",
       {},
       {a, b},
       [](const T& v) {
         return where(gt(v[0], zeros({}, TensorOptions().dtype(v[0].dtype()).device(v[0].device()))), v[0], v[1]);
       },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return e[0] > 0 ? e[0] : e[1]; },
       {},
       0.0},

      // ---- unary table (RESA_UNARY_OPS) ----
      {"neg",
       {"neg"},
       {x},
       [](const T& v) { return neg(v[0]); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return -e[0]; },
       {},
       0.0},
      {"exp",
       {"exp"},
       {x},
       [](const T& v) { return exp(v[0]); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return std::exp(e[0]); }},
      {"log",
       {"log"},
       {xpos},
       [](const T& v) { return log(v[0]); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return std::log(e[0]); }},
      {"sqrt",
       {"sqrt"},
       {xpos},
       [](const T& v) { return sqrt(v[0]); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return std::sqrt(e[0]); }},
      {"pow 3",
       {"pow"},
       {x},
       [](const T& v) { return pow(v[0], 3.0); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return std::pow(e[0], 3.0); }},
      {"pow -1.5",
       {"pow"},
       {xpos},
       [](const T& v) { return pow(v[0], -1.5); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return std::pow(e[0], -1.5); }},
      {"pow 2 (v * v)",
       {"pow"},
       {x},
       [](const T& v) { return pow(v[0], 2.0); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return e[0] * e[0]; },
       {},
       0.0},
      {"abs",
       {"abs"},
       {x},
       [](const T& v) { return abs(v[0]); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return std::abs(e[0]); },
       {},
       0.0},
      {"clamp",
       {"clamp"},
       {x},
       [](const T& v) { return clamp(v[0], -0.5, 0.7); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return std::min(std::max(e[0], -0.5), 0.7); },
       {},
       0.0},
      {"relu",
       {"relu"},
       {x},
       [](const T& v) { return relu(v[0]); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return e[0] > 0 ? e[0] : 0.0; },
       {},
       0.0},
      {"sigmoid",
       {"sigmoid"},
       {x},
       [](const T& v) { return sigmoid(v[0]); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return 1.0 / (1.0 + std::exp(-e[0])); }},
      {"tanh",
       {"tanh"},
       {x},
       [](const T& v) { return tanh(v[0]); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return std::tanh(e[0]); }},
      {"add_scalar",
       {"add_scalar"},
       {x},
       [](const T& v) { return add(v[0], 1.5); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return e[0] + 1.5; },
       {},
       0.0},
      {"mul_scalar",
       {"mul_scalar"},
       {x},
       [](const T& v) { return mul(v[0], -2.5); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return e[0] * -2.5; },
       {},
       0.0},
      {"rsub",
       {"rsub"},
       {x},
       [](const T& v) { return rsub(2.0, v[0]); },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return 2.0 - e[0]; },
       {},
       0.0},
      {"2 - x * 3 + 1",
       {"rsub", "mul_scalar", "add_scalar"},
       {x},
       [](const T& v) { return 2.0 - v[0] * 3.0 + 1.0; },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return 2.0 - e[0] * 3.0 + 1.0; },
       {},
       0.0},
      {"rdiv",
       {"rdiv"},
       {xpos},
       [](const T& v) { return 2.0 / v[0]; },
       true,
       {DType::Float32, DType::Float64},
       [](const V& e) { return 2.0 / e[0]; },
       {},
       0.0},
      {"step",
       {"step"},
       {rounded({3, 7}, 4)},
       [](const T& v) { return ops::unary(UnaryOp::Step, v[0], 0.5); },
       false,
       {DType::Float32, DType::Float64},
       [](const V& e) { return e[0] > 0.5 ? 1.0 : 0.0; },
       {},
       0.0},

      // ---- the softmax family (ops/softmax.h) ----
      {"softmax",
       {},
       {normal({5, 7}, 8)},
       [](const T& v) { return softmax(v[0], 1); },
       true,
       {DType::Float32, DType::Float64},
       nullptr,
       softmax_fixtures("softmax", softmax)},
      {"log_softmax",
       {},
       {normal({3, 4, 5}, 9)},
       [](const T& v) { return log_softmax(v[0], 1); },
       true,
       {DType::Float32, DType::Float64},
       nullptr,
       softmax_fixtures("log_softmax", log_softmax)},
      {"cross_entropy",
       {},
       {normal({6, 9}, 10), labels({6}, 9)},
       [](const T& v) { return cross_entropy(v[0], v[1]); },
       true,
       {DType::Float32, DType::Float64},
       nullptr,
       {{"loss_cross_entropy", {"logits", "labels"}, "loss", "", {"grad_logits", ""}}}},
      {"cross_entropy_soft",
       {},
       {normal({6, 9}, 11), positive({6, 9}, 12, 0.1)},
       [](const T& v) { return cross_entropy_soft(v[0], v[1]); },
       true,
       {DType::Float32, DType::Float64},
       nullptr,
       {{"loss_cross_entropy", {"logits", "target"}, "soft_loss", "", {"soft_grad_logits", "soft_grad_target"}}}},
      {"l2_normalize",
       {},
       {normal({5, 7}, 13)},
       [](const T& v) { return l2_normalize(v[0], 1); },
       true,
       {DType::Float32, DType::Float64},
       nullptr,
       {{"loss_l2_normalize", {"a_x"}, "a_y", "a_r", {"a_grad"}},
        {"loss_l2_normalize", {"b_x"}, "b_y", "b_r", {"b_grad"}, [](const T& v) { return l2_normalize(v[0], 0); }},
        {"loss_l2_normalize",
         {"c_x"},
         "c_y",
         "c_r",
         {"c_grad"},
         [](const T& v) { return l2_normalize(v[0], 1, 0.2); }}}},

      // ---- reductions (ops/reduce.h) ----
      {"sum",
       {},
       {normal({3, 4, 5}, 7)},
       [](const T& v) {
         return sum(v[0], {0, 2}, true);
       }},
      {"mean", {}, {normal({3, 4, 5}, 7)}, [](const T& v) { return mean(v[0], {1}); }},
      {"max", {}, {normal({3, 4, 5}, 7)}, [](const T& v) { return max(v[0], 2); }},
      {"min", {}, {normal({3, 4, 5}, 7)}, [](const T& v) { return min(v[0], 0, true); }},
      {"var",
       {},
       {normal({3, 4, 5}, 7)},
       [](const T& v) {
         return var(v[0], {0, 2});
       }},
      {"logsumexp", {}, {normal({3, 4, 5}, 7)}, [](const T& v) { return logsumexp(v[0], 1); }},
      {"norm", {}, {normal({3, 4, 5}, 7)}, [](const T& v) { return norm(v[0], {2}); }},

      // ---- linear algebra, convolution, pooling, normalisation ----
      {"matmul",
       {},
       {normal({2, 1, 3, 4}, 14), normal({5, 4, 2}, 15)},
       [](const T& v) { return matmul(v[0], v[1]); },
       true,
       {DType::Float32, DType::Float64},
       nullptr,
       {{"matmul_2d", {"a", "b"}, "y", "g", {"ga", "gb"}},
        {"matmul_broadcast", {"a", "b"}, "y", "g", {"ga", "gb"}},
        {"matmul_vec_mat", {"a", "b"}, "y", "g", {"ga", "gb"}},
        {"matmul_mat_vec", {"a", "b"}, "y", "g", {"ga", "gb"}},
        {"matmul_transposed",
         {"a", "b"},
         "y",
         "g",
         {"ga", "gb"},
         [](const T& v) { return matmul(v[0].transpose(-1, -2), v[1].transpose(-1, -2)); }}}},
      {"conv2d",
       {},
       {normal({2, 3, 7, 5}, 16), normal({4, 3, 3, 3}, 17), normal({4}, 18)},
       [](const T& v) { return conv2d(v[0], v[1], v[2], Conv2dOptions().padding(1)); },
       true,
       {DType::Float32, DType::Float64},
       nullptr,
       {{"conv_s1p1",
         {"x", "w", "b"},
         "y",
         "gy",
         {"gx", "gw", "gb"},
         [](const T& v) { return conv2d(v[0], v[1], v[2], Conv2dOptions().padding(1)); }},
        {"conv_2x3_dil2",
         {"x", "w", "b"},
         "y",
         "gy",
         {"gx", "gw", "gb"},
         [](const T&
                v) { return conv2d(v[0], v[1], v[2], Conv2dOptions().stride(1, 2).padding(1, 0).dilation(2, 2)); }}}},
      {"max_pool2d",
       {},
       {normal({2, 3, 7, 5}, 19)},
       [](const T& v) { return max_pool2d(v[0], 3, 2, 1); },
       true,
       {DType::Float32, DType::Float64},
       nullptr,
       {{"conv_maxpool_k3s2p1", {"x"}, "y", "gy", {"gx"}},
        {"conv_maxpool_k2s2p0", {"x"}, "y", "gy", {"gx"}, [](const T& v) { return max_pool2d(v[0], 2, 2, 0); }}}},
      {"avg_pool2d",
       {},
       {normal({2, 3, 7, 5}, 20)},
       [](const T& v) { return avg_pool2d(v[0], 3, 2, 1); },
       true,
       {DType::Float32, DType::Float64},
       nullptr,
       {{"conv_avgpool_k3s2p1", {"x"}, "y", "gy", {"gx"}},
        {"conv_avgpool_k2s1p0", {"x"}, "y", "gy", {"gx"}, [](const T& v) { return avg_pool2d(v[0], 2, 1, 0); }}}},
      {"batch_norm (training, batch statistics)",
       {},
       {normal({4, 3, 2, 2}, 21), normal({3}, 22), normal({3}, 23)},
       [](const T& v) { return batch_norm(v[0], v[1], v[2], Tensor(), Tensor(), true); }},
      {"batch_norm_relu (training, batch norm + ReLU fused)",
       {},
       {normal({4, 3, 2, 2}, 26), normal({3}, 27), normal({3}, 28)},
       [](const T& v) { return batch_norm_relu(v[0], v[1], v[2], Tensor(), Tensor(), true); }},
      {"index_select",
       {},
       {normal({4, 5}, 24), labels({6}, 4)},
       [](const T& v) { return index_select(v[0], 0, v[1]); }},
      {"gather", {}, {normal({4, 5}, 25), labels({4, 3}, 5)}, [](const T& v) { return gather(v[0], 1, v[1]); }},
  };
  return rows;
}

}  // namespace resa::test
