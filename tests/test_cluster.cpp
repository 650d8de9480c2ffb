// Clustering metrics: silhouette and adjusted Rand index against scikit-learn, k-means on separated
// synthetic clusters.
#include <cmath>
#include <vector>

#include "resa/eval/cluster.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;

TEST_CASE("silhouette samples equal scikit-learn's (Euclidean and cosine, float64 and float32)") {
  auto fx = load_fixture("cluster_metrics");
  Tensor lab = fx.get("labels", DType::Int64);
  for (auto [metric, name] :
       {std::pair{DistanceMetric::Euclidean, "sil_euclidean"}, std::pair{DistanceMetric::Cosine, "sil_cosine"}}) {
    CAPTURE(name);
    Tensor ref = fx.get(name, DType::Float64);
    auto rv = ref.to_vector<double>();
    double mean = 0, var = 0;
    for (double v : rv) mean += v;
    mean /= static_cast<double>(rv.size());
    for (double v : rv) var += (v - mean) * (v - mean);
    const double sd = std::sqrt(var / static_cast<double>(rv.size()));
    CHECK(rv[3] == 0.0);  // the singleton cluster
    for (int64_t block : {1024, 17}) {
      CAPTURE(block);
      auto r = silhouette(fx.get("x", DType::Float64), lab, metric, block);
      CHECK(max_abs_error(r.samples, ref) < 1e-10);
      CHECK(r.mean == doctest::Approx(mean).epsilon(1e-10));
      CHECK(r.std == doctest::Approx(sd).epsilon(1e-10));
    }
    auto r32 = silhouette(fx.get("x", DType::Float32), lab, metric, 50);
    CHECK(max_abs_error(r32.samples, ref) < 1e-4);
  }
  RESA_CHECK_THROWS_WITH_SUBSTR(silhouette(zeros({5, 2}), zeros({5}, TensorOptions().dtype(DType::Int64))), "clusters");
}

TEST_CASE("adjusted Rand index equals scikit-learn's") {
  auto fx = load_fixture("cluster_metrics");
  Tensor a = fx.get("ari_a", DType::Int64), b = fx.get("ari_b", DType::Int64), c = fx.get("ari_c", DType::Int64);
  CHECK(adjusted_rand_index(a, b) == doctest::Approx(fx.get("ari", DType::Float64).item()).epsilon(1e-12));
  CHECK(adjusted_rand_index(a, c) == doctest::Approx(fx.get("ari_ac", DType::Float64).item()).epsilon(1e-12));
  CHECK(adjusted_rand_index(b, a) == doctest::Approx(adjusted_rand_index(a, b)).epsilon(1e-12));
  // Closed forms: a renamed partition is 1; one cluster vs all singletons is 0 (scikit-learn's special case).
  auto p = from_vector<int64_t>({0, 0, 1, 1, 2, 2}, {6}), q = from_vector<int64_t>({9, 9, -3, -3, 5, 5}, {6});
  CHECK(adjusted_rand_index(p, q) == 1.0);
  auto one = from_vector<int64_t>({4, 4, 4, 4}, {4}), all = from_vector<int64_t>({0, 1, 2, 3}, {4});
  CHECK(adjusted_rand_index(one, all) == doctest::Approx(0.0));
  CHECK(adjusted_rand_index(one, one) == 1.0);
  RESA_CHECK_THROWS_WITH_SUBSTR(adjusted_rand_index(p, all), "[adjusted_rand_index]");
}

namespace {
// n points per cluster around k centres far apart (distance >= 20, noise std 1), with their true labels.
std::pair<Tensor, Tensor> blobs(int64_t k, int64_t per, int64_t d, uint64_t seed) {
  Generator g(seed);
  Tensor noise = randn({k * per, d}, TensorOptions().dtype(DType::Float64), &g);
  auto nv = noise.to_vector<double>();
  std::vector<int64_t> lab;
  for (int64_t i = 0; i < k * per; ++i) {
    int64_t c = (i * 7) % k;  // interleaved, so cluster order is not row order
    lab.push_back(c);
    nv[i * d + c % d] += 20.0 * static_cast<double>(1 + c / d);
  }
  return {from_vector<double>(nv, {k * per, d}), from_vector<int64_t>(lab, {k * per})};
}
}  // namespace

TEST_CASE("k-means recovers well-separated clusters (ARI 1) and is deterministic for a seed") {
  auto [x, truth] = blobs(5, 41, 3, 3);
  auto r = kmeans(x, KMeansOptions().k(5).n_init(3).seed(1));
  CHECK(adjusted_rand_index(r.labels, truth) == 1.0);
  CHECK(r.centers.shape() == Shape{5, 3});
  CHECK(r.n_iter >= 1);
  // Inertia against a closed form: the sum of squared distances to the found centres' own members' means.
  auto xv = x.to_vector<double>();
  auto lv = r.labels.to_vector<int64_t>();
  auto cv = r.centers.to_vector<double>();
  double inertia = 0;
  for (size_t i = 0; i < lv.size(); ++i)
    for (int64_t f = 0; f < 3; ++f) inertia += std::pow(xv[i * 3 + f] - cv[lv[i] * 3 + f], 2);
  CHECK(r.inertia == doctest::Approx(inertia).epsilon(1e-10));
  CHECK(r.inertia < 5 * 41 * 3 * 1.5);  // about n x d x noise variance

  auto r2 = kmeans(x, KMeansOptions().k(5).n_init(3).seed(1));
  CHECK(r2.labels.to_vector<int64_t>() == lv);
  CHECK(r2.inertia == r.inertia);
  auto r32 = kmeans(x.to(DType::Float32), KMeansOptions().k(5).n_init(2).seed(9).block_rows(16));
  CHECK(adjusted_rand_index(r32.labels, truth) == 1.0);
  // k = n: every sample its own centre, inertia 0.
  auto small = from_vector<double>({0, 0, 1, 0, 0, 1}, {3, 2});
  auto rs = kmeans(small, KMeansOptions().k(3).n_init(1));
  CHECK(rs.inertia == doctest::Approx(0.0));
  RESA_CHECK_THROWS_WITH_SUBSTR(kmeans(small, KMeansOptions().k(4)), "[kmeans] k = 4");
}
