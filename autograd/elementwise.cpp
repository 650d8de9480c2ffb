// Differentiable elementwise functions. Each calls its op and records a backward closure written
// with other differentiable functions (so it runs on every device). Saved tensors are captured
// detached, so a node never keeps its own output's graph alive.
#include "resa/autograd/elementwise.h"

#include <limits>

#include "resa/autograd/engine.h"
#include "resa/autograd/reduce.h"
#include "resa/ops/elementwise.h"

namespace resa {

using autograd::record;
using ops::BinaryOp;
using ops::UnaryOp;

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  RESA_CHECK(lead >= 0, "[sum_to] cannot reduce shape {} to larger shape {}", shape_str(g.shape()), shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < lead; ++i) dims.push_back(i);
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] == 1 && g.shape()[lead + i] != 1) dims.push_back(lead + static_cast<int64_t>(i));
  return sum(g, dims, true).reshape(shape);
}

namespace {
Tensor scalar_like(double v, const Tensor& t) {
  return full({}, v, TensorOptions().dtype(t.dtype()).device(t.device()));
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return record(ops::binary(BinaryOp::Add, a, b), "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return record(ops::binary(BinaryOp::Sub, a, b), "sub", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  bool ra = a.requires_grad(), rb = b.requires_grad();
  return record(ops::binary(BinaryOp::Mul, a, b), "mul", {a, b},
                [ad = a.detach(), bd = b.detach(), ra, rb](const Tensor& g) {
                  return std::vector<Tensor>{ra ? sum_to(mul(g, bd), ad.shape()) : Tensor(),
                                             rb ? sum_to(mul(g, ad), bd.shape()) : Tensor()};
                });
}

Tensor div(const Tensor& a, const Tensor& b) {
  bool ra = a.requires_grad(), rb = b.requires_grad();
  return record(ops::binary(BinaryOp::Div, a, b), "div", {a, b},
                [ad = a.detach(), bd = b.detach(), ra, rb](const Tensor& g) {
                  Tensor ga, gb;
                  if (ra) ga = sum_to(div(g, bd), ad.shape());
                  if (rb) gb = sum_to(neg(div(mul(g, ad), mul(bd, bd))), bd.shape());
                  return std::vector<Tensor>{ga, gb};
                });
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  return record(
      ops::binary(BinaryOp::Maximum, a, b), "maximum", {a, b}, [ad = a.detach(), bd = b.detach()](const Tensor& g) {
        Tensor take_a = ops::binary(BinaryOp::Ge, ad, bd);
        return std::vector<Tensor>{sum_to(mul(g, take_a), ad.shape()), sum_to(mul(g, rsub(1.0, take_a)), bd.shape())};
      });
}

Tensor add(const Tensor& a, double b) {
  return record(ops::unary(UnaryOp::AddScalar, a, b), "add_scalar", {a},
                [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor mul(const Tensor& a, double b) {
  return record(ops::unary(UnaryOp::MulScalar, a, b), "mul_scalar", {a},
                [b](const Tensor& g) { return std::vector<Tensor>{mul(g, b)}; });
}

Tensor rsub(double a, const Tensor& b) {
  return record(ops::unary(UnaryOp::RSub, b, a), "rsub", {b},
                [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

Tensor rdiv(double a, const Tensor& b) {
  Tensor out = ops::unary(UnaryOp::RDiv, b, a);
  // d(a/b)/db = -a/b^2 = -out/b
  return record(out, "rdiv", {b}, [o = out.detach(), bd = b.detach()](const Tensor& g) {
    return std::vector<Tensor>{neg(div(mul(g, o), bd))};
  });
}

Tensor neg(const Tensor& x) {
  return record(ops::unary(UnaryOp::Neg, x), "neg", {x}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

Tensor exp(const Tensor& x) {
  Tensor out = ops::unary(UnaryOp::Exp, x);
  return record(out, "exp", {x}, [o = out.detach()](const Tensor& g) { return std::vector<Tensor>{mul(g, o)}; });
}

Tensor log(const Tensor& x) {
  return record(ops::unary(UnaryOp::Log, x), "log", {x},
                [xd = x.detach()](const Tensor& g) { return std::vector<Tensor>{div(g, xd)}; });
}

Tensor sqrt(const Tensor& x) {
  Tensor out = ops::unary(UnaryOp::Sqrt, x);
  return record(out, "sqrt", {x},
                [o = out.detach()](const Tensor& g) { return std::vector<Tensor>{div(mul(g, 0.5), o)}; });
}

Tensor pow(const Tensor& x, double p) {
  return record(ops::unary(UnaryOp::Pow, x, p), "pow", {x}, [xd = x.detach(), p](const Tensor& g) {
    if (p == 0.0) return std::vector<Tensor>{mul(g, 0.0)};
    if (p == 2.0) return std::vector<Tensor>{mul(g, mul(xd, 2.0))};
    return std::vector<Tensor>{mul(g, mul(ops::unary(UnaryOp::Pow, xd, p - 1.0), p))};
  });
}

Tensor abs(const Tensor& x) {
  return record(ops::unary(UnaryOp::Abs, x), "abs", {x}, [xd = x.detach()](const Tensor& g) {
    Tensor sign = sub(ops::unary(UnaryOp::Step, xd, 0.0), ops::unary(UnaryOp::Step, neg(xd), 0.0));
    return std::vector<Tensor>{mul(g, sign)};
  });
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  RESA_CHECK(lo <= hi, "[clamp] lower bound {} is above upper bound {}", lo, hi);
  return record(ops::unary(UnaryOp::Clamp, x, lo, hi), "clamp", {x}, [xd = x.detach(), lo, hi](const Tensor& g) {
    Tensor inside =
        mul(ops::binary(BinaryOp::Ge, xd, scalar_like(lo, xd)), ops::binary(BinaryOp::Le, xd, scalar_like(hi, xd)));
    return std::vector<Tensor>{mul(g, inside)};
  });
}

namespace {
// g where the ReLU's output o is positive, else 0: one pass over g and o. Differentiable in g (o is a
// constant here), so gradients of gradients still flow through a ReLU.
Tensor relu_backward(const Tensor& g, const Tensor& o) {
  return record(ops::binary(BinaryOp::MaskPositive, g, o), "relu_backward", {g},
                [o](const Tensor& gg) { return std::vector<Tensor>{relu_backward(gg, o)}; });
}
}  // namespace

Tensor relu(const Tensor& x) {
  Tensor out = ops::unary(UnaryOp::Relu, x);
  return record(out, "relu", {x},
                [o = out.detach()](const Tensor& g) { return std::vector<Tensor>{relu_backward(g, o)}; });
}

Tensor add_relu(const Tensor& a, const Tensor& b) {
  Tensor out = ops::binary(BinaryOp::AddRelu, a, b);
  return record(out, "add_relu", {a, b}, [o = out.detach(), sa = a.shape(), sb = b.shape()](const Tensor& g) {
    const Tensor masked = relu_backward(g, o);
    return std::vector<Tensor>{sum_to(masked, sa), sum_to(masked, sb)};
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = ops::unary(UnaryOp::Sigmoid, x);
  return record(out, "sigmoid", {x},
                [o = out.detach()](const Tensor& g) { return std::vector<Tensor>{mul(g, mul(o, rsub(1.0, o)))}; });
}

Tensor tanh(const Tensor& x) {
  Tensor out = ops::unary(UnaryOp::Tanh, x);
  return record(out, "tanh", {x},
                [o = out.detach()](const Tensor& g) { return std::vector<Tensor>{mul(g, rsub(1.0, mul(o, o)))}; });
}

Tensor eq(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Ge, a, b); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor c = cond.detach();
  return record(ops::where(c, a, b), "where", {a, b}, [c, sa = a.shape(), sb = b.shape()](const Tensor& g) {
    Tensor zero = zeros({}, TensorOptions().dtype(g.dtype()).device(g.device()));
    return std::vector<Tensor>{sum_to(ops::where(c, g, zero), sa), sum_to(ops::where(c, zero, g), sb)};
  });
}

Tensor Tensor::pow(double e) const { return resa::pow(*this, e); }
Tensor Tensor::exp() const { return resa::exp(*this); }
Tensor Tensor::log() const { return resa::log(*this); }
Tensor Tensor::sqrt() const { return resa::sqrt(*this); }
Tensor Tensor::abs() const { return resa::abs(*this); }
Tensor Tensor::relu() const { return resa::relu(*this); }

}  // namespace resa
