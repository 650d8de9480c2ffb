#include "resa/eval/embedding_map.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "resa/autograd/functions.h"
#include "resa/core/parallel.h"

namespace resa {
namespace {

constexpr double kTiny = std::numeric_limits<double>::epsilon();

// Rows of a (N, D) tensor as one row-major float64 host array.
std::vector<double> rows_of(const Tensor& x, const char* op, int64_t& n, int64_t& d) {
  RESA_CHECK(x.dim() == 2, "[{}] expects an (N, D) tensor, got shape {}", op, shape_str(x.shape()));
  n = x.size(0);
  d = x.size(1);
  RESA_CHECK(n >= 2 && d >= 1, "[{}] needs at least 2 points of dimension >= 1, got shape {}", op,
             shape_str(x.shape()));
  return x.detach().to(kCPU).to(DType::Float64).contiguous().to_vector<double>();
}

// Squared Euclidean distances between all rows, (N, N).
std::vector<double> squared_distances(const std::vector<double>& x, int64_t n, int64_t d) {
  std::vector<double> out(static_cast<size_t>(n * n));
  parallel_for(n, 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t c = 0; c < d; ++c) {
          const double t = x[i * d + c] - x[j * d + c];
          s += t * t;
        }
        out[i * n + j] = s;
      }
  });
  return out;
}

Tensor as_tensor(std::vector<double> v, const Shape& shape) { return from_vector<double>(v, shape); }

}  // namespace

Tensor pca(const Tensor& x_in, int64_t k) {
  int64_t n = 0, d = 0;
  std::vector<double> x = rows_of(x_in, "pca", n, d);
  RESA_CHECK(k >= 1 && k <= d, "[pca] k = {} must lie in [1, D = {}]", k, d);
  std::vector<double> mean(d, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < d; ++c) mean[c] += x[i * d + c] / static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < d; ++c) x[i * d + c] -= mean[c];
  std::vector<double> cov(static_cast<size_t>(d * d), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t a = 0; a < d; ++a) {
      const double xa = x[i * d + a];
      for (int64_t b = 0; b < d; ++b) cov[a * d + b] += xa * x[i * d + b];
    }
  std::vector<double> out(static_cast<size_t>(n * k), 0.0);
  for (int64_t axis = 0; axis < k; ++axis) {
    // Power iteration from a fixed start; the deflation below removes the axes already found.
    std::vector<double> v(d), w(d);
    for (int64_t c = 0; c < d; ++c) v[c] = 1.0 + 0.01 * static_cast<double>(c % 7);
    double lambda = 0;
    for (int it = 0; it < 1000; ++it) {
      for (int64_t a = 0; a < d; ++a) {
        double s = 0;
        for (int64_t b = 0; b < d; ++b) s += cov[a * d + b] * v[b];
        w[a] = s;
      }
      const double norm = std::sqrt(std::inner_product(w.begin(), w.end(), w.begin(), 0.0));
      if (norm < 1e-300) break;  // no variance left
      double change = 0;
      for (int64_t c = 0; c < d; ++c) {
        change = std::max(change, std::abs(w[c] / norm - v[c]));
        v[c] = w[c] / norm;
      }
      lambda = norm;
      if (change < 1e-12) break;
    }
    int64_t big = 0;
    for (int64_t c = 1; c < d; ++c)
      if (std::abs(v[c]) > std::abs(v[big])) big = c;
    if (v[big] < 0)
      for (double& t : v) t = -t;
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t c = 0; c < d; ++c) s += x[i * d + c] * v[c];
      out[i * k + axis] = s;
    }
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = 0; b < d; ++b) cov[a * d + b] -= lambda * v[a] * v[b];
  }
  return as_tensor(std::move(out), {n, k});
}

Tensor tsne_joint_probabilities(const Tensor& x_in, double perplexity) {
  int64_t n = 0, d = 0;
  std::vector<double> x = rows_of(x_in, "tsne", n, d);
  RESA_CHECK(perplexity > 0 && perplexity < static_cast<double>(n),
             "[tsne] perplexity {} must lie in (0, N = {}): it is the effective number of neighbours", perplexity, n);
  const std::vector<double> dist = squared_distances(x, n, d);
  std::vector<double> p(static_cast<size_t>(n * n), 0.0);
  const double target = std::log(perplexity);
  parallel_for(n, 8, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      // Bisection on beta = 1 / (2 sigma^2) until the entropy of row i (in nats) is log(perplexity).
      double beta = 1.0, lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
      double* row = &p[i * n];
      for (int step = 0; step < 100; ++step) {
        double sum = 0, weighted = 0;
        for (int64_t j = 0; j < n; ++j) {
          row[j] = j == i ? 0.0 : std::exp(-dist[i * n + j] * beta);
          sum += row[j];
        }
        if (sum == 0) sum = kTiny;
        for (int64_t j = 0; j < n; ++j) {
          row[j] /= sum;
          weighted += dist[i * n + j] * row[j];
        }
        const double entropy = std::log(sum) + beta * weighted;
        const double diff = entropy - target;
        if (std::abs(diff) <= 1e-5) break;
        if (diff > 0) {
          lo = beta;
          beta = std::isinf(hi) ? beta * 2.0 : (beta + hi) / 2.0;
        } else {
          hi = beta;
          beta = std::isinf(lo) ? beta / 2.0 : (beta + lo) / 2.0;
        }
      }
    }
  });
  double total = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) total += p[i * n + j] + p[j * n + i];
  total = std::max(total, kTiny);
  std::vector<double> joint(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      if (i != j) joint[i * n + j] = std::max((p[i * n + j] + p[j * n + i]) / total, kTiny);
  return as_tensor(std::move(joint), {n, n});
}

namespace {

// KL(P || Q) (when want_kl) and, when grad is given, its gradient with respect to y (N, 2); p is (N, N),
// diagonal 0. The optimisation needs only the gradient, so it skips the N^2 logarithms of the KL.
double kl_and_gradient(const std::vector<double>& p, const std::vector<double>& y, int64_t n, double exaggeration,
                       std::vector<double>* grad, bool want_kl = true) {
  std::vector<double> num(static_cast<size_t>(n * n), 0.0);
  std::vector<double> row_sum(n, 0.0);
  parallel_for(n, 512, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      for (int64_t j = 0; j < n; ++j) {
        if (j == i) continue;
        const double dx = y[i * 2] - y[j * 2], dy = y[i * 2 + 1] - y[j * 2 + 1];
        num[i * n + j] = 1.0 / (1.0 + dx * dx + dy * dy);
        row_sum[i] += num[i * n + j];
      }
  });
  const double z = std::accumulate(row_sum.begin(), row_sum.end(), 0.0);
  std::vector<double> kl_rows(n, 0.0);
  parallel_for(n, 512, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      double gx = 0, gy = 0, kl = 0;
      for (int64_t j = 0; j < n; ++j) {
        if (j == i) continue;
        const double pij = p[i * n + j] * exaggeration;
        const double qij = std::max(num[i * n + j] / z, kTiny);
        if (want_kl) kl += pij * std::log(std::max(pij, kTiny) / qij);
        const double f = 4.0 * (pij - qij) * num[i * n + j];
        gx += f * (y[i * 2] - y[j * 2]);
        gy += f * (y[i * 2 + 1] - y[j * 2 + 1]);
      }
      kl_rows[i] = kl;
      if (grad) {
        (*grad)[i * 2] = gx;
        (*grad)[i * 2 + 1] = gy;
      }
    }
  });
  return std::accumulate(kl_rows.begin(), kl_rows.end(), 0.0);
}

}  // namespace

double tsne_kl(const Tensor& p_in, const Tensor& y_in) {
  int64_t n = 0, d = 0, n2 = 0, two = 0;
  std::vector<double> p = rows_of(p_in, "tsne_kl", n, d);
  std::vector<double> y = rows_of(y_in, "tsne_kl", n2, two);
  RESA_CHECK(d == n && n2 == n && two == 2, "[tsne_kl] expects P (N, N) and Y (N, 2), got {} and {}",
             shape_str(p_in.shape()), shape_str(y_in.shape()));
  return kl_and_gradient(p, y, n, 1.0, nullptr);
}

TsneResult tsne(const Tensor& x, const TsneOptions& o) {
  RESA_CHECK(
      o.iterations_ >= 1 && o.exaggeration_iterations_ >= 0 && o.early_exaggeration_ >= 1.0 && o.learning_rate_ >= 0.0,
      "[tsne] iterations {} must be >= 1, exaggeration iterations {} >= 0, early exaggeration {} >= 1 and "
      "learning rate {} >= 0",
      o.iterations_, o.exaggeration_iterations_, o.early_exaggeration_, o.learning_rate_);
  const int64_t n = x.size(0);
  const std::vector<double> p = tsne_joint_probabilities(x, o.perplexity_).to_vector<double>();
  // Start: the PCA map, scaled so that its first coordinate has standard deviation 1e-4.
  std::vector<double> y = pca(x, 2).to_vector<double>();
  double mean0 = 0, var0 = 0;
  for (int64_t i = 0; i < n; ++i) mean0 += y[i * 2] / static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) var0 += (y[i * 2] - mean0) * (y[i * 2] - mean0) / static_cast<double>(n);
  const double scale = var0 > 0 ? 1e-4 / std::sqrt(var0) : 1.0;
  for (double& t : y) t *= scale;

  const double lr =
      o.learning_rate_ > 0 ? o.learning_rate_ : std::max(static_cast<double>(n) / o.early_exaggeration_ / 4.0, 50.0);
  std::vector<double> grad(y.size()), update(y.size(), 0.0), gains(y.size(), 1.0);
  for (int64_t it = 0; it < o.iterations_; ++it) {
    const bool exploring = it < o.exaggeration_iterations_;
    const double momentum = exploring ? 0.5 : 0.8;
    if (it == o.exaggeration_iterations_) {  // the second stage starts afresh, as in the reference method
      std::fill(update.begin(), update.end(), 0.0);
      std::fill(gains.begin(), gains.end(), 1.0);
    }
    kl_and_gradient(p, y, n, exploring ? o.early_exaggeration_ : 1.0, &grad, /*want_kl=*/false);
    for (size_t c = 0; c < y.size(); ++c) {
      // Per-coordinate gains: grow while the step keeps its direction, shrink when it reverses.
      gains[c] = (update[c] * grad[c] < 0.0) ? gains[c] + 0.2 : gains[c] * 0.8;
      gains[c] = std::max(gains[c], 0.01);
      update[c] = momentum * update[c] - lr * gains[c] * grad[c];
      y[c] += update[c];
    }
  }
  TsneResult r;
  r.embedding = as_tensor(y, {n, 2});
  r.kl = kl_and_gradient(p, y, n, 1.0, nullptr);
  return r;
}

double trustworthiness(const Tensor& x_in, const Tensor& y_in, int64_t k) {
  int64_t n = 0, d = 0, n2 = 0, d2 = 0;
  std::vector<double> x = rows_of(x_in, "trustworthiness", n, d);
  std::vector<double> y = rows_of(y_in, "trustworthiness", n2, d2);
  RESA_CHECK(n == n2, "[trustworthiness] x has {} points, y {}", n, n2);
  RESA_CHECK(k >= 1 && 2 * n - 3 * k - 1 > 0, "[trustworthiness] k = {} must be >= 1 and < (2N - 1) / 3 = {}", k,
             (2 * n - 1) / 3.0);
  const std::vector<double> dx = squared_distances(x, n, d), dy = squared_distances(y, n2, d2);
  std::vector<double> penalty(n, 0.0);
  parallel_for(n, 8, [&](int64_t b, int64_t e) {
    std::vector<int64_t> order(n), rank(n);
    for (int64_t i = b; i < e; ++i) {
      // Rank (1 = nearest) of every other point in the input space.
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t c) {
        const double da = a == i ? std::numeric_limits<double>::infinity() : dx[i * n + a];
        const double dc = c == i ? std::numeric_limits<double>::infinity() : dx[i * n + c];
        return da < dc;
      });
      for (int64_t r = 0; r < n; ++r) rank[order[r]] = r + 1;
      // The k nearest in the map.
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k + 1, order.end(), [&](int64_t a, int64_t c) {
        const double da = a == i ? -1.0 : dy[i * n + a];
        const double dc = c == i ? -1.0 : dy[i * n + c];
        return da < dc || (da == dc && a < c);
      });
      double s = 0;
      for (int64_t r = 1; r <= k; ++r) s += std::max<int64_t>(0, rank[order[r]] - k);
      penalty[i] = s;
    }
  });
  const double t = std::accumulate(penalty.begin(), penalty.end(), 0.0);
  const double nd = static_cast<double>(n), kd = static_cast<double>(k);
  return 1.0 - t * (2.0 / (nd * kd * (2.0 * nd - 3.0 * kd - 1.0)));
}

}  // namespace resa
