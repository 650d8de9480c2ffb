// The linear probe against PyTorch (full-batch Adam, exponential lr) and top-k against closed forms.
#include "resa/eval/linear_probe.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;

TEST_CASE("linear probe equals PyTorch's Adam + ExponentialLR run from zero weights") {
  auto fx = load_fixture("probe_adam");
  auto opts = LinearProbeOptions().epochs(fx.meta["epochs"]).batch_size(1000).zero_init(true).num_classes(4);
  auto res = linear_probe(fx.get("train_x"), fx.get("train_y", DType::Int64), fx.get("test_x"),
                          fx.get("test_y", DType::Int64), opts);
  // float32 here against a float64 reference over 30 Adam steps.
  CHECK(max_rel_error(res.weight, fx.get("weight")) < 1e-4);
  CHECK(max_rel_error(res.bias, fx.get("bias")) < 1e-4);
  CHECK(res.final_train_loss == doctest::Approx(fx.get("final_loss").item()).epsilon(1e-5));
  CHECK(res.top1 == doctest::Approx(fx.get("top1").item()));
}

TEST_CASE("top-k accuracy by counting") {
  auto scores = from_vector<float>({0.1f, 0.7f, 0.2f,   // label 1: top-1
                                    0.5f, 0.3f, 0.2f,   // label 2: third
                                    0.2f, 0.2f, 0.6f},  // label 0: tied second
                                   {3, 3});
  auto labels = from_vector<int64_t>({1, 2, 0}, {3});
  CHECK(topk_accuracy(scores, labels, 1) == doctest::Approx(1.0 / 3));
  CHECK(topk_accuracy(scores, labels, 2) == doctest::Approx(2.0 / 3));
  CHECK(topk_accuracy(scores, labels, 3) == doctest::Approx(1.0));
}

TEST_CASE("linear probe separates well-separated classes and rejects bad labels") {
  Generator g(5);
  auto centers = mul(randn({3, 6}, {}, &g), 10.0);
  auto ytr = from_vector<int64_t>(std::vector<int64_t>(300, 0), {300});
  auto y = ytr.data<int64_t>();
  for (int i = 0; i < 300; ++i) y[i] = i % 3;
  auto xtr = add(index_select(centers, 0, ytr), randn({300, 6}, {}, &g));
  auto res = linear_probe(xtr, ytr, xtr, ytr, LinearProbeOptions().epochs(50).batch_size(64));
  CHECK(res.top1 > 0.99);
  RESA_CHECK_THROWS_WITH_SUBSTR(linear_probe(xtr, xtr, xtr, ytr), "labels must be int64");
}
