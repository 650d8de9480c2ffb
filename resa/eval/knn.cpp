#include "resa/eval/knn.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "resa/autograd/functions.h"
#include "resa/core/parallel.h"

namespace resa {

namespace {

void check_inputs(const char* op, const Tensor& train_x, const Tensor& train_y, const Tensor& test_x,
                  const Tensor& test_y, int64_t k, int64_t block_rows) {
  RESA_CHECK(train_x.dim() == 2 && test_x.dim() == 2 && train_x.size(1) == test_x.size(1),
             "[{}] train features {} and test features {} must be (n, d) and (t, d)", op, shape_str(train_x.shape()),
             shape_str(test_x.shape()));
  RESA_CHECK(is_floating(train_x.dtype()) && train_x.dtype() == test_x.dtype(),
             "[{}] features {} and {} must share a floating dtype", op, shape_str(train_x.shape()),
             shape_str(test_x.shape()));
  RESA_CHECK(train_y.dim() == 1 && train_y.size(0) == train_x.size(0) && train_y.dtype() == DType::Int64,
             "[{}] train labels {} must be int64 (n) for train features {}", op, shape_str(train_y.shape()),
             shape_str(train_x.shape()));
  RESA_CHECK(
      !test_y.defined() || (test_y.dim() == 1 && test_y.size(0) == test_x.size(0) && test_y.dtype() == DType::Int64),
      "[{}] test labels {} must be int64 (t) for test features {}", op,
      test_y.defined() ? shape_str(test_y.shape()) : std::string("()"), shape_str(test_x.shape()));
  RESA_CHECK(k >= 1 && k <= train_x.size(0), "[{}] k = {} must be in [1, n_train = {}] (train features {})", op, k,
             train_x.size(0), shape_str(train_x.shape()));
  RESA_CHECK(block_rows >= 1, "[{}] block_rows must be >= 1, got {}", op, block_rows);
}

// For each of `rows` rows of key(i, j) (lower is nearer), the k nearest columns in order (equal keys:
// lower column first). NaN keys count as farthest. idx: (rows, k).
template <typename T, typename Key>
void select_nearest(const T* dots, int64_t rows, int64_t n, int64_t k, Key key, std::vector<int64_t>& idx) {
  idx.assign(static_cast<size_t>(rows * k), 0);
  parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::vector<double> keys(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = dots + r * n;
      for (int64_t j = 0; j < n; ++j) {
        double v = key(static_cast<double>(row[j]), j);
        keys[j] = std::isnan(v) ? std::numeric_limits<double>::infinity() : v;
      }
      std::iota(order.begin(), order.end(), int64_t{0});
      auto less = [&](int64_t a, int64_t b) { return keys[a] < keys[b] || (keys[a] == keys[b] && a < b); };
      if (k < n) std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), less);
      std::sort(order.begin(), order.begin() + k, less);
      std::copy(order.begin(), order.begin() + k, idx.begin() + r * k);
    }
  });
}

// Runs `per_block(b0, nb, idx, dots)` for blocks of test rows, where idx holds each row's k nearest
// train rows and dots (host, nb x n) the block's dot products with the train rows.
template <typename Key, typename PerBlock>
void for_each_block(const Tensor& train, const Tensor& test, int64_t k, int64_t block_rows, Key key,
                    PerBlock per_block) {
  const int64_t n = train.size(0), t = test.size(0);
  std::vector<int64_t> idx;
  for (int64_t b0 = 0; b0 < t; b0 += block_rows) {
    const int64_t nb = std::min(block_rows, t - b0);
    Tensor dots = matmul(test.narrow(0, b0, nb), train.t()).to(kCPU).contiguous();  // (nb, n)
    if (dots.dtype() == DType::Float64) {
      select_nearest(dots.data<double>(), nb, n, k, key, idx);
      per_block(b0, nb, idx, dots.data<double>());
    } else {
      select_nearest(dots.data<float>(), nb, n, k, key, idx);
      per_block(b0, nb, idx, dots.data<float>());
    }
  }
}

}  // namespace

KnnResult knn_classify(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x, const Tensor& test_y,
                       const KnnOptions& opts) {
  check_inputs("knn", train_x, train_y, test_x, test_y, opts.k_, opts.block_rows_);
  NoGradGuard no_grad;
  const int64_t k = opts.k_, t = test_x.size(0);
  Tensor train = train_x.detach(), test = test_x.detach();
  // |x - y|^2 = |x|^2 - 2 x.y + |y|^2; |x|^2 is the same along a test row, so ranking needs only the rest.
  std::vector<double> train_sq = sum(mul(train, train), {1}).to_vector<double>();
  std::vector<int64_t> ytrain = train_y.to_vector<int64_t>();
  std::vector<int64_t> pred(static_cast<size_t>(t));
  auto key = [&](double dot, int64_t j) { return train_sq[j] - 2.0 * dot; };
  for_each_block(
      train, test, k, opts.block_rows_, key, [&](int64_t b0, int64_t nb, const std::vector<int64_t>& idx, const auto*) {
        for (int64_t r = 0; r < nb; ++r) {
          // (label, count) in order of first appearance, i.e. of the nearest holder.
          std::vector<std::pair<int64_t, int64_t>> counts;
          for (int64_t i = 0; i < k; ++i) {
            int64_t y = ytrain[idx[r * k + i]];
            auto it = std::find_if(counts.begin(), counts.end(), [y](auto& c) { return c.first == y; });
            if (it == counts.end())
              counts.push_back({y, 1});
            else
              ++it->second;
          }
          auto best = counts.begin();
          for (auto it = counts.begin(); it != counts.end(); ++it) {
            bool more = it->second > best->second;
            bool tie_smaller =
                it->second == best->second && it->first < best->first && opts.tie_break_ == KnnTieBreak::SmallestLabel;
            if (more || tie_smaller) best = it;
          }
          pred[b0 + r] = best->first;
        }
      });
  KnnResult res;
  res.predictions = from_vector<int64_t>(pred, {t});
  if (test_y.defined() && t > 0) {
    std::vector<int64_t> ytest = test_y.to_vector<int64_t>();
    int64_t right = 0;
    for (int64_t i = 0; i < t; ++i) right += pred[i] == ytest[i];
    res.top1 = static_cast<double>(right) / static_cast<double>(t);
  }
  return res;
}

WeightedKnnResult weighted_knn_classify(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x,
                                        const Tensor& test_y, const WeightedKnnOptions& opts) {
  check_inputs("weighted_knn", train_x, train_y, test_x, test_y, opts.k_, opts.block_rows_);
  RESA_CHECK(opts.temperature_ > 0, "[weighted_knn] temperature must be > 0, got {}", opts.temperature_);
  NoGradGuard no_grad;
  const int64_t k = opts.k_, t = test_x.size(0);
  std::vector<int64_t> ytrain = train_y.to_vector<int64_t>();
  std::vector<int64_t> ytest = test_y.defined() ? test_y.to_vector<int64_t>() : std::vector<int64_t>{};
  int64_t num_classes = opts.num_classes_;
  if (num_classes <= 0) {
    for (auto y : ytrain) num_classes = std::max(num_classes, y + 1);
    for (auto y : ytest) num_classes = std::max(num_classes, y + 1);
  }
  for (auto y : ytrain)
    RESA_CHECK(y >= 0 && y < num_classes, "[weighted_knn] train label {} outside [0, {}) (train labels {})", y,
               num_classes, shape_str(train_y.shape()));
  const int64_t top = std::min<int64_t>(5, num_classes);
  Tensor train = l2_normalize(train_x.detach(), 1), test = l2_normalize(test_x.detach(), 1);
  std::vector<int64_t> ranked(static_cast<size_t>(t * top));
  const double inv_t = 1.0 / opts.temperature_;
  auto key = [](double dot, int64_t) { return -dot; };
  for_each_block(train, test, k, opts.block_rows_, key,
                 [&](int64_t b0, int64_t nb, const std::vector<int64_t>& idx, const auto* dots) {
                   const int64_t n = train.size(0);
                   parallel_for(nb, 16, [&](int64_t r0, int64_t r1) {
                     std::vector<double> votes(static_cast<size_t>(num_classes));
                     std::vector<int64_t> cls(static_cast<size_t>(num_classes));
                     for (int64_t r = r0; r < r1; ++r) {
                       std::fill(votes.begin(), votes.end(), 0.0);
                       for (int64_t i = 0; i < k; ++i) {
                         int64_t j = idx[r * k + i];
                         // exp((sim - 1) / T) is exp(sim / T) up to a common factor, and never overflows.
                         votes[ytrain[j]] += std::exp((static_cast<double>(dots[r * n + j]) - 1.0) * inv_t);
                       }
                       std::iota(cls.begin(), cls.end(), int64_t{0});
                       std::stable_sort(cls.begin(), cls.end(),
                                        [&](int64_t a, int64_t b) { return votes[a] > votes[b]; });
                       std::copy(cls.begin(), cls.begin() + top, ranked.begin() + (b0 + r) * top);
                     }
                   });
                 });
  WeightedKnnResult res;
  res.predictions = from_vector<int64_t>(ranked, {t, top});
  if (!ytest.empty()) {
    int64_t right1 = 0, right5 = 0;
    for (int64_t i = 0; i < t; ++i) {
      right1 += ranked[i * top] == ytest[i];
      for (int64_t c = 0; c < top; ++c) right5 += ranked[i * top + c] == ytest[i];
    }
    res.top1 = static_cast<double>(right1) / static_cast<double>(t);
    res.top5 = static_cast<double>(right5) / static_cast<double>(t);
  }
  return res;
}

}  // namespace resa
