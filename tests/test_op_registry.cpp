// Every op case of tests/op_registry.h in every mode that applies to it: the op tables' coverage, float64
// gradcheck, a scalar reference, PyTorch fixtures and CUDA against CPU (see op_registry.h).
#include <iterator>
#include <set>

#include "cuda_test_util.h"
#include "op_registry.h"

using namespace resa;
using namespace resa::test;

namespace {

bool is_integer(DType dt) { return dt == DType::Int64 || dt == DType::UInt8; }

// The elements of `t` broadcast to `shape`, in row-major order, as doubles.
std::vector<double> broadcast_values(const Tensor& t, const Shape& shape) {
  Shape s = t.shape();
  while (s.size() < shape.size()) s.insert(s.begin(), 1);
  return t.reshape(s).expand(shape).contiguous().to_vector<double>();
}

Tensor loss_of(const Tensor& y, const Tensor& r) { return sum(mul(y, r)); }

}  // namespace

TEST_CASE("op registry: every row of the op tables has a registry row") {
  std::set<std::string> covered;
  std::set<std::string> names;
  for (const OpCase& c : op_registry()) {
    CHECK_MESSAGE(names.insert(c.name).second, "two registry rows are named '" << c.name << "'");
    covered.insert(c.covers.begin(), c.covers.end());
  }
  for (ops::UnaryOp op : ops::kUnaryOps) {
    const std::string name = ops::op_name(op);
    CHECK_MESSAGE(covered.count(name) == 1, "unary op '" << name << "' has no row in tests/op_registry.h");
  }
  for (ops::BinaryOp op : ops::kBinaryOps) {
    const std::string name = ops::op_name(op);
    CHECK_MESSAGE(covered.count(name) == 1, "binary op '" << name << "' has no row in tests/op_registry.h");
  }
  // And the other way: a row cannot claim an op the tables do not have.
  std::set<std::string> table;
  for (const char* n : ops::kUnaryOpNames) table.insert(n);
  for (const char* n : ops::kBinaryOpNames) table.insert(n);
  for (const std::string& n : covered)
    CHECK_MESSAGE(table.count(n) == 1, "registry row covers unknown op '" << n << "'");
  CHECK(static_cast<int>(std::size(ops::kUnaryOps)) == ops::kUnaryOpCount);
  CHECK(static_cast<int>(std::size(ops::kBinaryOps)) == ops::kBinaryOpCount);
}

TEST_CASE("op registry: a value outside the op tables is an error, never another op") {
  Tensor t = ones({3}, TensorOptions().dtype(DType::Float64));
  RESA_CHECK_THROWS_WITH_SUBSTR(ops::unary(static_cast<ops::UnaryOp>(ops::kUnaryOpCount), t), "unknown op");
  RESA_CHECK_THROWS_WITH_SUBSTR(ops::binary(static_cast<ops::BinaryOp>(ops::kBinaryOpCount), t, t), "unknown op");
}

TEST_CASE("op registry: float64 gradcheck") {
  for (const OpCase& c : op_registry()) {
    if (!c.differentiable) continue;
    CAPTURE(c.name);
    // gradcheck takes float64 inputs only: integer inputs (labels, indices) are held fixed in the function.
    std::vector<Tensor> all = make_inputs(c, DType::Float64, true), floats;
    std::vector<size_t> slot;
    for (size_t k = 0; k < all.size(); ++k)
      if (all[k].dtype() == DType::Float64) floats.push_back(all[k]), slot.push_back(k);
    OpFn fn = [&c, all, slot](const std::vector<Tensor>& v) {
      std::vector<Tensor> in = all;
      for (size_t i = 0; i < slot.size(); ++i) in[slot[i]] = v[i];
      return c.fn(in);
    };
    RESA_GRADCHECK(fn, floats);
  }
}

TEST_CASE("op registry: elementwise ops against their scalar formula") {
  for (const OpCase& c : op_registry()) {
    if (!c.reference) continue;
    for (DType dt : {DType::Float64, DType::Float32}) {
      CAPTURE(c.name);
      CAPTURE(dtype_name(dt));
      std::vector<Tensor> in = make_inputs(c, dt, false);
      Tensor y = c.fn(in);
      CHECK(y.dtype() == dt);
      std::vector<std::vector<double>> cols;
      for (const Tensor& t : in) cols.push_back(broadcast_values(t, y.shape()));
      std::vector<double> ref(static_cast<size_t>(y.numel()));
      std::vector<double> e(in.size());
      for (size_t i = 0; i < ref.size(); ++i) {
        for (size_t k = 0; k < in.size(); ++k) e[k] = cols[k][i];
        ref[i] = c.reference(e);
      }
      // float64 computes the formula itself; float32 rounds it once more (and its math library differs).
      const double tol = dt == DType::Float64 ? 1e-12 : 1e-6;
      CHECK(max_rel_error(y, from_vector<double>(ref, y.shape())) <= tol);
    }
  }
}

TEST_CASE("op registry: float32 forward and gradients match PyTorch fixtures") {
  int checked = 0;
  for (const OpCase& c : op_registry()) {
    for (const FixtureCase& f : c.fixtures) {
      CAPTURE(c.name);
      CAPTURE(f.file);
      CAPTURE(f.output);
      REQUIRE(f.inputs.size() == c.inputs.size());
      Fixture fx = load_fixture(f.file);
      std::vector<Tensor> in;
      for (size_t k = 0; k < f.inputs.size(); ++k) {
        const bool lab = c.inputs[k].kind == OpInput::Labels;
        Tensor t = fx.get(f.inputs[k], lab ? DType::Int64 : DType::Float32);
        if (!lab && k < f.grads.size() && !f.grads[k].empty()) t.requires_grad_();
        in.push_back(t);
      }
      Tensor y = (f.fn ? f.fn : c.fn)(in);
      CHECK(y.dtype() == DType::Float32);
      CHECK(max_rel_error(y, fx.get(f.output, DType::Float64)) <= 1e-5);
      if (!f.grads.empty()) {
        if (f.cotangent.empty())
          y.backward();
        else
          loss_of(y, fx.get(f.cotangent)).backward();
        for (size_t k = 0; k < f.grads.size(); ++k) {
          if (f.grads[k].empty()) continue;
          CAPTURE(f.grads[k]);
          REQUIRE(in[k].grad().defined());
          CHECK(max_rel_error(in[k].grad(), fx.get(f.grads[k], DType::Float64)) <= 1e-5);
        }
      }
      ++checked;
    }
  }
  CHECK(checked >= 20);
}

TEST_CASE("op registry: CUDA against CPU, forward and gradients") {
  SKIP_WITHOUT_CUDA();
  for (const OpCase& c : op_registry()) {
    for (DType dt : c.dtypes) {
      CAPTURE(c.name);
      CAPTURE(dtype_name(dt));
      const bool grads = c.differentiable && !is_integer(dt);
      std::vector<Tensor> cpu = make_inputs(c, DType::Float64, false);
      if (is_integer(dt))  // small non-negative integers: exact in every integer dtype
        for (size_t k = 0; k < cpu.size(); ++k)
          if (c.inputs[k].kind != OpInput::Labels) cpu[k] = add(abs(mul(cpu[k], 4.0)), 0.5).to(DType::Int64).to(dt);
      std::vector<Tensor> gpu;
      for (size_t k = 0; k < cpu.size(); ++k) {
        if (c.inputs[k].kind != OpInput::Labels && !is_integer(dt)) cpu[k] = cpu[k].to(dt);
        gpu.push_back(cpu[k].to(kGPU));
        if (grads && c.inputs[k].grad) {
          cpu[k].requires_grad_();
          gpu[k].requires_grad_();
        }
      }
      Tensor yc = c.fn(cpu), yg = c.fn(gpu);
      check_close(yg, yc, c.cuda_tol, c.name + " forward");
      if (!grads) continue;
      Tensor r = rand64(yc.shape(), 99, false).to(dt);
      loss_of(yc, r).backward();
      loss_of(yg, r.to(kGPU)).backward();
      for (size_t k = 0; k < cpu.size(); ++k)
        if (cpu[k].requires_grad())
          check_close(gpu[k].grad(), cpu[k].grad(), std::max(c.cuda_tol, 1e-5), c.name + " grad");
    }
  }
}
