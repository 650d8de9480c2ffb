// kNN classifiers: the k=5 Euclidean majority vote against scikit-learn's KNeighborsClassifier, the
// weighted cosine kNN against a NumPy re-statement of the InstDisc/DINO protocol.
#include <vector>

#include "resa/eval/knn.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;

TEST_CASE("kNN (k=5, Euclidean, majority vote) equals scikit-learn's predictions, ties included") {
  auto fx = load_fixture("cluster_knn");
  INFO("vote ties in the fixture: " << fx.meta["vote_ties"].get<int>());
  CHECK(fx.meta["vote_ties"].get<int>() > 0);
  Tensor ytr = fx.get("ytr", DType::Int64), yte = fx.get("yte", DType::Int64);
  auto expected = fx.get("pred_k5", DType::Int64).to_vector<int64_t>();
  int64_t right = 0;
  for (size_t i = 0; i < expected.size(); ++i) right += expected[i] == yte.to_vector<int64_t>()[i];
  for (DType dt : {DType::Float64, DType::Float32}) {
    for (int64_t block : {256, 7, 1}) {  // blocks smaller than the test set, not dividing it
      CAPTURE(block);
      auto r = knn_classify(fx.get("xtr", dt), ytr, fx.get("xte", dt), yte, KnnOptions().block_rows(block));
      CHECK(r.predictions.to_vector<int64_t>() == expected);
      CHECK(r.top1 == doctest::Approx(static_cast<double>(right) / static_cast<double>(expected.size())));
    }
  }
  // Breaking ties by the nearest neighbour changes some of the tied predictions and nothing else.
  auto near = knn_classify(fx.get("xtr", DType::Float64), ytr, fx.get("xte", DType::Float64), yte,
                           KnnOptions().tie_break(KnnTieBreak::NearestNeighbor));
  auto pn = near.predictions.to_vector<int64_t>();
  int64_t differ = 0;
  for (size_t i = 0; i < pn.size(); ++i) differ += pn[i] != expected[i];
  CHECK(differ > 0);  // the fixture has ties where the nearest holder's label is not the smallest (7)
  CHECK(differ <= fx.meta["vote_ties"].get<int>());
}

TEST_CASE("kNN vote and tie rules on a hand-made case") {
  // 1-D train points; the test point at 0 has neighbours at distances 1, 2, 3, 4, 5.
  auto xtr = from_vector<double>({1, -2, 3, -4, 5, 100}, {6, 1});
  auto xte = from_vector<double>({0}, {1, 1});
  // labels by distance: 3, 1, 3, 1, 2 -> counts 3:2, 1:2 -> smallest label 1; nearest holder 3.
  auto ytr = from_vector<int64_t>({3, 1, 3, 1, 2, 0}, {6});
  CHECK(knn_classify(xtr, ytr, xte).predictions.to_vector<int64_t>() == std::vector<int64_t>{1});
  CHECK(knn_classify(xtr, ytr, xte, {}, KnnOptions().tie_break(KnnTieBreak::NearestNeighbor))
            .predictions.to_vector<int64_t>() == std::vector<int64_t>{3});
  CHECK(knn_classify(xtr, ytr, xte, {}, KnnOptions().k(1)).predictions.to_vector<int64_t>() == std::vector<int64_t>{3});
  RESA_CHECK_THROWS_WITH_SUBSTR(knn_classify(xtr, ytr, xte, {}, KnnOptions().k(7)), "[knn] k = 7");
  RESA_CHECK_THROWS_WITH_SUBSTR(knn_classify(xtr, ytr, from_vector<double>({0, 1}, {1, 2})), "[knn]");
}

TEST_CASE("weighted cosine kNN equals the NumPy reference (top-5 ranking, top-1/top-5 accuracy)") {
  auto fx = load_fixture("cluster_knn");
  Tensor ytr = fx.get("ytr", DType::Int64), yte = fx.get("yte", DType::Int64);
  auto y = yte.to_vector<int64_t>();
  for (auto& c : fx.meta["wknn"]) {
    std::string name = c["name"];
    CAPTURE(name);
    Tensor ref = fx.get(name, DType::Int64);
    auto rv = ref.to_vector<int64_t>();
    const int64_t top = ref.size(1);
    double t1 = 0, t5 = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      t1 += rv[i * top] == y[i];
      for (int64_t j = 0; j < top; ++j) t5 += rv[i * top + j] == y[i];
    }
    t1 /= static_cast<double>(y.size());
    t5 /= static_cast<double>(y.size());
    for (DType dt : {DType::Float64, DType::Float32}) {
      auto opts = WeightedKnnOptions().k(c["k"]).temperature(c["T"]).block_rows(13);
      auto r = weighted_knn_classify(fx.get("xtr", dt), ytr, fx.get("xte", dt), yte, opts);
      REQUIRE(r.predictions.shape() == ref.shape());
      if (dt == DType::Float64)
        CHECK(r.predictions.to_vector<int64_t>() == rv);
      else
        CHECK(r.predictions.select(1, 0).to_vector<int64_t>() == ref.select(1, 0).to_vector<int64_t>());
      CHECK(r.top1 == doctest::Approx(t1));
      CHECK(r.top5 == doctest::Approx(t5));
    }
  }
}
