#include "resa/eval/cluster.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "resa/autograd/functions.h"
#include "resa/core/parallel.h"
#include "resa/core/rng.h"

namespace resa {

namespace {

// Maps arbitrary int64 labels to 0..C-1 (in increasing label order); returns C.
int64_t dense_labels(const std::vector<int64_t>& in, std::vector<int64_t>& out) {
  std::vector<int64_t> uniq(in);
  std::sort(uniq.begin(), uniq.end());
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
  out.resize(in.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = std::lower_bound(uniq.begin(), uniq.end(), in[i]) - uniq.begin();
  return static_cast<int64_t>(uniq.size());
}

void check_labels(const char* op, const Tensor& labels, int64_t n, const Shape& x_shape) {
  RESA_CHECK(labels.dim() == 1 && labels.size(0) == n && labels.dtype() == DType::Int64,
             "[{}] labels {} must be int64 (n) for samples {}", op, shape_str(labels.shape()), shape_str(x_shape));
}

// Squared Euclidean distances from every row of x (host, n x d, row-major) to c rows `cen` (c x d):
// out (n x c). One matmul per block of rows.
void sq_dists(const Tensor& xt, const std::vector<double>& xsq, const std::vector<double>& cen, int64_t c,
              int64_t block_rows, std::vector<double>& out) {
  const int64_t n = xt.size(0), d = xt.size(1);
  Tensor ct = from_vector<double>(cen, {c, d});
  std::vector<double> csq(static_cast<size_t>(c), 0.0);
  for (int64_t j = 0; j < c; ++j)
    for (int64_t f = 0; f < d; ++f) csq[j] += cen[j * d + f] * cen[j * d + f];
  out.resize(static_cast<size_t>(n * c));
  for (int64_t b0 = 0; b0 < n; b0 += block_rows) {
    const int64_t nb = std::min(block_rows, n - b0);
    Tensor dots = matmul(xt.narrow(0, b0, nb), ct.t()).contiguous();  // (nb, c)
    const double* p = dots.data<double>();
    parallel_for(nb, 256, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t j = 0; j < c; ++j)
          out[(b0 + r) * c + j] = std::max(0.0, xsq[b0 + r] - 2.0 * p[r * c + j] + csq[j]);
    });
  }
}

struct Assignment {
  std::vector<int64_t> labels;
  std::vector<double> dist;  // squared distance to the assigned centre
  double inertia = 0;
};

Assignment assign(const Tensor& xt, const std::vector<double>& xsq, const std::vector<double>& cen, int64_t k,
                  int64_t block_rows) {
  const int64_t n = xt.size(0);
  std::vector<double> d2;
  sq_dists(xt, xsq, cen, k, block_rows, d2);
  Assignment a;
  a.labels.resize(static_cast<size_t>(n));
  a.dist.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < k; ++j)
      if (d2[i * k + j] < d2[i * k + best]) best = j;
    a.labels[i] = best;
    a.dist[i] = d2[i * k + best];
    a.inertia += a.dist[i];  // serial sum: the same result whatever the thread count
  }
  return a;
}

// Greedy k-means++ (scikit-learn's variant): k centres, each the best of several D^2-sampled candidates.
std::vector<double> kmeans_plusplus(const Tensor& xt, const std::vector<double>& x, const std::vector<double>& xsq,
                                    int64_t k, int64_t block_rows, Generator& gen) {
  const int64_t n = xt.size(0), d = xt.size(1);
  const int64_t trials = 2 + static_cast<int64_t>(std::log(static_cast<double>(k)));
  std::vector<double> cen(static_cast<size_t>(k * d));
  auto set_center = [&](int64_t c, int64_t i) { std::copy(&x[i * d], &x[i * d] + d, &cen[c * d]); };
  set_center(0, static_cast<int64_t>(gen.randint(static_cast<uint64_t>(n))));
  std::vector<double> closest;
  sq_dists(xt, xsq, std::vector<double>(cen.begin(), cen.begin() + d), 1, block_rows, closest);
  double pot = std::accumulate(closest.begin(), closest.end(), 0.0);
  std::vector<double> cum(static_cast<size_t>(n)), cand_cen(static_cast<size_t>(trials * d)), dc;
  std::vector<int64_t> cand(static_cast<size_t>(trials));
  for (int64_t c = 1; c < k; ++c) {
    std::partial_sum(closest.begin(), closest.end(), cum.begin());
    for (int64_t t = 0; t < trials; ++t) {
      double r = gen.uniform() * pot;
      int64_t i = std::lower_bound(cum.begin(), cum.end(), r) - cum.begin();
      cand[t] = std::min(i, n - 1);
      std::copy(&x[cand[t] * d], &x[cand[t] * d] + d, &cand_cen[t * d]);
    }
    sq_dists(xt, xsq, cand_cen, trials, block_rows, dc);  // (n, trials)
    int64_t best_t = 0;
    double best_pot = std::numeric_limits<double>::infinity();
    for (int64_t t = 0; t < trials; ++t) {
      double p = 0;
      for (int64_t i = 0; i < n; ++i) p += std::min(closest[i], dc[i * trials + t]);
      if (p < best_pot) best_pot = p, best_t = t;
    }
    for (int64_t i = 0; i < n; ++i) closest[i] = std::min(closest[i], dc[i * trials + best_t]);
    pot = best_pot;
    set_center(c, cand[best_t]);
  }
  return cen;
}

}  // namespace

SilhouetteResult silhouette(const Tensor& x_in, const Tensor& labels, DistanceMetric metric, int64_t block_rows) {
  RESA_CHECK(x_in.dim() == 2 && is_floating(x_in.dtype()), "[silhouette] samples must be a 2-D float (n, d), got {}",
             shape_str(x_in.shape()));
  const int64_t n = x_in.size(0);
  check_labels("silhouette", labels, n, x_in.shape());
  RESA_CHECK(block_rows >= 1, "[silhouette] block_rows must be >= 1, got {}", block_rows);
  std::vector<int64_t> lab;
  const int64_t nc = dense_labels(labels.to_vector<int64_t>(), lab);
  RESA_CHECK(nc >= 2 && nc <= n - 1, "[silhouette] needs 2 <= clusters <= n - 1, got {} clusters for samples {}", nc,
             shape_str(x_in.shape()));
  NoGradGuard no_grad;
  std::vector<int64_t> count(static_cast<size_t>(nc), 0);
  for (auto l : lab) ++count[l];

  const bool cosine = metric == DistanceMetric::Cosine;
  Tensor x = cosine ? l2_normalize(x_in.detach(), 1) : x_in.detach();
  std::vector<double> xsq = sum(mul(x, x), {1}).to_vector<double>();
  std::vector<double> s(static_cast<size_t>(n));
  for (int64_t b0 = 0; b0 < n; b0 += block_rows) {
    const int64_t nb = std::min(block_rows, n - b0);
    Tensor dots = matmul(x.narrow(0, b0, nb), x.t()).to(kCPU).to(DType::Float64).contiguous();  // (nb, n)
    const double* p = dots.data<double>();
    parallel_for(nb, 4, [&](int64_t r0, int64_t r1) {
      std::vector<double> sums(static_cast<size_t>(nc));
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t i = b0 + r;
        std::fill(sums.begin(), sums.end(), 0.0);
        for (int64_t j = 0; j < n; ++j) {
          if (j == i) continue;  // the distance to itself is 0 (rounding would make it slightly positive)
          double dist = cosine ? std::clamp(1.0 - p[r * n + j], 0.0, 2.0)
                               : std::sqrt(std::max(0.0, xsq[i] + xsq[j] - 2.0 * p[r * n + j]));
          sums[lab[j]] += dist;
        }
        const int64_t own = lab[i];
        if (count[own] <= 1) {
          s[i] = 0.0;
          continue;
        }
        double a = sums[own] / static_cast<double>(count[own] - 1);
        double b = std::numeric_limits<double>::infinity();
        for (int64_t c = 0; c < nc; ++c)
          if (c != own) b = std::min(b, sums[c] / static_cast<double>(count[c]));
        double den = std::max(a, b);
        s[i] = den > 0 ? (b - a) / den : 0.0;
      }
    });
  }
  SilhouetteResult res;
  double mean = 0, var = 0;
  for (double v : s) mean += v;
  mean /= static_cast<double>(n);
  for (double v : s) var += (v - mean) * (v - mean);
  res.samples = from_vector<double>(s, {n});
  res.mean = mean;
  res.std = std::sqrt(var / static_cast<double>(n));
  return res;
}

KMeansResult kmeans(const Tensor& x_in, const KMeansOptions& opts) {
  RESA_CHECK(x_in.dim() == 2 && is_floating(x_in.dtype()), "[kmeans] samples must be a 2-D float (n, d), got {}",
             shape_str(x_in.shape()));
  const int64_t n = x_in.size(0), d = x_in.size(1), k = opts.k_;
  RESA_CHECK(k >= 1 && k <= n, "[kmeans] k = {} must be in [1, n = {}] (samples {})", k, n, shape_str(x_in.shape()));
  RESA_CHECK(opts.n_init_ >= 1 && opts.max_iter_ >= 1 && opts.tol_ >= 0 && opts.block_rows_ >= 1,
             "[kmeans] needs n_init >= 1, max_iter >= 1, tol >= 0, block_rows >= 1; got {}, {}, {}, {}", opts.n_init_,
             opts.max_iter_, opts.tol_, opts.block_rows_);
  NoGradGuard no_grad;
  Tensor xt = x_in.detach().to(kCPU).to(DType::Float64).contiguous();
  std::vector<double> x = xt.to_vector<double>();
  std::vector<double> xsq(static_cast<size_t>(n), 0.0), mu(static_cast<size_t>(d), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t f = 0; f < d; ++f) xsq[i] += x[i * d + f] * x[i * d + f], mu[f] += x[i * d + f];
  // Tolerance relative to the data's scale: tol x mean per-feature variance.
  double mean_var = 0;
  for (int64_t f = 0; f < d; ++f) {
    mu[f] /= static_cast<double>(n);
    double v = 0;
    for (int64_t i = 0; i < n; ++i) v += (x[i * d + f] - mu[f]) * (x[i * d + f] - mu[f]);
    mean_var += v / static_cast<double>(n);
  }
  const double tol = opts.tol_ * mean_var / static_cast<double>(d);

  Generator gen(opts.seed_);
  KMeansResult best;
  std::vector<double> best_cen;
  std::vector<int64_t> best_labels;
  best.inertia = std::numeric_limits<double>::infinity();
  for (int64_t run = 0; run < opts.n_init_; ++run) {
    std::vector<double> cen = kmeans_plusplus(xt, x, xsq, k, opts.block_rows_, gen);
    std::vector<int64_t> prev;
    int64_t it = 0;
    while (it < opts.max_iter_) {
      Assignment a = assign(xt, xsq, cen, k, opts.block_rows_);
      ++it;
      // M step: centres become the means of their members.
      std::vector<double> next(static_cast<size_t>(k * d), 0.0);
      std::vector<int64_t> cnt(static_cast<size_t>(k), 0);
      for (int64_t i = 0; i < n; ++i) {
        ++cnt[a.labels[i]];
        for (int64_t f = 0; f < d; ++f) next[a.labels[i] * d + f] += x[i * d + f];
      }
      // Empty clusters take the samples farthest from their centres (farthest first).
      std::vector<int64_t> far(static_cast<size_t>(n));
      std::iota(far.begin(), far.end(), int64_t{0});
      std::stable_sort(far.begin(), far.end(), [&](int64_t p, int64_t q) { return a.dist[p] > a.dist[q]; });
      int64_t next_far = 0;
      for (int64_t c = 0; c < k; ++c) {
        if (cnt[c] > 0) {
          for (int64_t f = 0; f < d; ++f) next[c * d + f] /= static_cast<double>(cnt[c]);
        } else {
          int64_t i = far[next_far++];
          std::copy(&x[i * d], &x[i * d] + d, &next[c * d]);
        }
      }
      double shift = 0;
      for (int64_t e = 0; e < k * d; ++e) shift += (next[e] - cen[e]) * (next[e] - cen[e]);
      cen.swap(next);
      if (a.labels == prev) break;  // labels stable: the centres are the fixed point
      prev.swap(a.labels);
      if (shift <= tol) break;
    }
    Assignment fin = assign(xt, xsq, cen, k, opts.block_rows_);  // labels consistent with the final centres
    if (fin.inertia < best.inertia) {
      best.inertia = fin.inertia;
      best.n_iter = it;
      best_cen = cen;
      best_labels = fin.labels;
    }
  }
  best.labels = from_vector<int64_t>(best_labels, {n});
  best.centers = from_vector<double>(best_cen, {k, d});
  return best;
}

double adjusted_rand_index(const Tensor& labels_a, const Tensor& labels_b) {
  RESA_CHECK(labels_a.dim() == 1 && labels_a.shape() == labels_b.shape() && labels_a.dtype() == DType::Int64 &&
                 labels_b.dtype() == DType::Int64,
             "[adjusted_rand_index] labelings {} and {} must be int64 vectors of the same length",
             shape_str(labels_a.shape()), shape_str(labels_b.shape()));
  const int64_t n = labels_a.size(0);
  std::vector<int64_t> a, b;
  dense_labels(labels_a.to_vector<int64_t>(), a);
  const int64_t nb = dense_labels(labels_b.to_vector<int64_t>(), b);
  // Contingency counts n_ij from sorted pair codes; row sums n_i., column sums n_.j.
  std::vector<int64_t> codes(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) codes[i] = a[i] * nb + b[i];
  std::sort(codes.begin(), codes.end());
  std::vector<int64_t> row(static_cast<size_t>(n), 0), col(static_cast<size_t>(nb), 0);
  long double ss = 0;  // sum of n_ij^2
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    while (j < n && codes[j] == codes[i]) ++j;
    const long double c = static_cast<long double>(j - i);
    ss += c * c;
    row[codes[i] / nb] += j - i;
    col[codes[i] % nb] += j - i;
    i = j;
  }
  long double srow = 0, scol = 0;
  for (auto v : row) srow += static_cast<long double>(v) * v;
  for (auto v : col) scol += static_cast<long double>(v) * v;
  // The pair confusion matrix (ordered pairs), as scikit-learn's pair_confusion_matrix.
  const long double nn = static_cast<long double>(n);
  const long double tp = ss - nn, fp = scol - ss, fn = srow - ss, tn = nn * nn - fp - fn - ss;
  if (fn == 0 && fp == 0) return 1.0;
  return static_cast<double>(2.0L * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)));
}

}  // namespace resa
