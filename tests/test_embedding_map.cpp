// The 2-D maps of resa/eval/embedding_map.h against scikit-learn (fixture: tests/scripts/gen_tsne.py):
// t-SNE's joint probabilities exactly, trustworthiness exactly, PCA up to the sign of each axis, and a
// whole t-SNE run by what it is for (how well the map keeps neighbours, the KL it reaches), not by its
// coordinates, which depend on every detail of the optimisation.
#include "resa/eval/embedding_map.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;

TEST_CASE("t-SNE joint probabilities equal scikit-learn's (perplexity bisection, symmetrised)") {
  auto fx = load_fixture("tsne");
  Tensor p = tsne_joint_probabilities(fx.get("x", DType::Float64), fx.meta["perplexity"]);
  Tensor ref = fx.get("p", DType::Float64);
  // scikit-learn bisects on float32 distances, to an entropy tolerance of 1e-5 nats on both sides.
  CHECK(max_rel_error(p, ref) < 1e-4);
  // Sums to 1 but for the floor of DBL_EPSILON on each of the N^2 entries, as scikit-learn's.
  CHECK(sum(p).item() == doctest::Approx(1.0).epsilon(1e-10));
}

TEST_CASE("trustworthiness equals scikit-learn's on fixed maps") {
  auto fx = load_fixture("tsne");
  Tensor x = fx.get("x", DType::Float64);
  CHECK(trustworthiness(x, fx.get("y_sklearn", DType::Float64), 5) ==
        doctest::Approx(double(fx.meta["trust5_sklearn_map"])).epsilon(1e-12));
  CHECK(trustworthiness(x, fx.get("pca", DType::Float64), 5) ==
        doctest::Approx(double(fx.meta["trust5_pca"])).epsilon(1e-12));
  CHECK(trustworthiness(x, fx.get("y_random", DType::Float64), 10) ==
        doctest::Approx(double(fx.meta["trust10_random"])).epsilon(1e-12));
  CHECK(trustworthiness(x, x, 5) == doctest::Approx(1.0));
  CHECK_THROWS_WITH_AS(trustworthiness(x, x, 200), doctest::Contains("k = 200"), Error);
}

TEST_CASE("PCA equals scikit-learn's up to the sign of each axis") {
  auto fx = load_fixture("tsne");
  Tensor ours = pca(fx.get("x", DType::Float64), 2), ref = fx.get("pca", DType::Float64);
  for (int64_t a = 0; a < 2; ++a) {
    Tensor o = ours.select(1, a), r = ref.select(1, a);
    const double sign = (sum(mul(o, r)).item() >= 0) ? 1.0 : -1.0;
    CHECK(max_rel_error(mul(o, sign), r) < 1e-9);
  }
}

TEST_CASE("exact t-SNE keeps neighbours as well as scikit-learn's and reaches a KL as low") {
  auto fx = load_fixture("tsne");
  Tensor x = fx.get("x", DType::Float64);
  TsneResult r = tsne(x, TsneOptions().perplexity(fx.meta["perplexity"]));
  REQUIRE(r.embedding.shape() == Shape{240, 2});
  const double trust = trustworthiness(x, r.embedding, 5), trust_ref = fx.meta["trust5_sklearn_map"];
  const double kl_ref = fx.meta["kl_sklearn"];
  MESSAGE("trustworthiness(5) ours " << trust << " vs scikit-learn " << trust_ref << "; KL ours " << r.kl << " vs "
                                     << kl_ref);
  // Both optimisers follow the same method from the same PCA start; runs of either differ by a few
  // thousandths in trustworthiness and a few percent in KL from rounding and stopping alone.
  CHECK(trust >= trust_ref - 0.01);
  CHECK(r.kl <= kl_ref * 1.10);
  // The KL it reports is the KL of the map it returns.
  CHECK(r.kl == doctest::Approx(tsne_kl(tsne_joint_probabilities(x, fx.meta["perplexity"]), r.embedding)));
  // The map separates the 4 clusters: each point's nearest map neighbour shares its label.
  auto y = r.embedding.to_vector<double>();
  auto labels = fx.get("labels", DType::Int64).to_vector<int64_t>();
  int agree = 0;
  for (int64_t i = 0; i < 240; ++i) {
    int64_t best = -1;
    double bd = 1e300;
    for (int64_t j = 0; j < 240; ++j) {
      if (j == i) continue;
      const double d = std::pow(y[i * 2] - y[j * 2], 2) + std::pow(y[i * 2 + 1] - y[j * 2 + 1], 2);
      if (d < bd) bd = d, best = j;
    }
    agree += labels[i] == labels[best];
  }
  CHECK(agree >= 238);
}

TEST_CASE("t-SNE and PCA name their bad inputs") {
  Tensor x = zeros({10, 3});
  CHECK_THROWS_WITH_AS(tsne_joint_probabilities(x, 30.0), doctest::Contains("perplexity 30"), Error);
  CHECK_THROWS_WITH_AS(pca(zeros({5}), 2), doctest::Contains("(N, D)"), Error);
  CHECK_THROWS_WITH_AS(pca(x, 4), doctest::Contains("k = 4"), Error);
  CHECK_THROWS_WITH_AS(tsne(x, TsneOptions().perplexity(3).iterations(0)), doctest::Contains("iterations 0"), Error);
}
