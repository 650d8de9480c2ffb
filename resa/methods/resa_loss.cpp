#include "resa/methods/resa_loss.h"

#include "resa/autograd/functions.h"
#include "resa/sinkhorn.h"

namespace resa {

namespace {

void check_2d(const Tensor& t, const char* what) {
  RESA_CHECK(t.defined(), "[resa_loss] {} is undefined", what);
  RESA_CHECK(t.dim() == 2, "[resa_loss] {} must be 2-D, got {}", what, shape_str(t.shape()));
}

void check_views(const std::vector<Tensor>& zs, const char* what, int64_t m, const Shape& first) {
  for (size_t i = 0; i < zs.size(); ++i) {
    check_2d(zs[i], what);
    RESA_CHECK(zs[i].size(0) == m && zs[i].shape() == first,
               "[resa_loss] {}[{}] has shape {}; every embedding must be ({}, e) like {}", what, i,
               shape_str(zs[i].shape()), m, shape_str(first));
  }
}

void check_options(const ReSALossOptions& o) { RESA_CHECK(o.tau_ > 0, "[resa_loss] tau must be > 0, got {}", o.tau_); }

// A = sinkhorn(norm(h) . norm(ht)^T), without gradient.
Tensor assignment(const Tensor& h, const Tensor& ht, const ReSALossOptions& o) {
  NoGradGuard no_grad;
  Tensor hn = l2_normalize(h.detach(), 1), htn = l2_normalize(ht.detach(), 1);
  return sinkhorn(matmul(hn, htn.t()), SinkhornOptions().eps(o.eps_).iters(o.iters_));
}

}  // namespace

Tensor resa_pair_loss(const Tensor& logits, const Tensor& target, bool symmetric) {
  RESA_CHECK(logits.dim() == 2 && logits.shape() == target.shape(),
             "[resa_loss] logits {} and target {} must be the same 2-D shape", shape_str(logits.shape()),
             shape_str(target.shape()));
  Tensor l = cross_entropy_soft(logits, target);
  if (!symmetric) return l;
  return mul(add(l, cross_entropy_soft(logits.t(), target.t())), 0.5);
}

ReSALossResult resa_loss(const Tensor& h0, const Tensor& h0_teacher, const std::vector<Tensor>& z,
                         const std::vector<Tensor>& z_teacher, const ReSALossOptions& opts) {
  check_options(opts);
  check_2d(h0, "h0");
  check_2d(h0_teacher, "h0_teacher");
  RESA_CHECK(h0.shape() == h0_teacher.shape(), "[resa_loss] h0 {} and h0_teacher {} differ in shape",
             shape_str(h0.shape()), shape_str(h0_teacher.shape()));
  RESA_CHECK(!z.empty() && !z_teacher.empty(), "[resa_loss] needs online and teacher embeddings, got {} and {} views",
             z.size(), z_teacher.size());
  const int64_t m = h0.size(0);
  check_views(z, "z", m, z[0].shape());
  check_views(z_teacher, "z_teacher", m, z[0].shape());
  RESA_CHECK(z.size() > 1 || z_teacher.size() > 1,
             "[resa_loss] needs a pair of different views, got {} online and {} teacher", z.size(), z_teacher.size());

  Tensor a = assignment(h0, h0_teacher, opts);
  std::vector<Tensor> zn, ztn;
  for (const auto& t : z) zn.push_back(l2_normalize(t, 1));
  for (const auto& t : z_teacher) ztn.push_back(l2_normalize(t, 1));
  Tensor total;
  int64_t terms = 0;
  for (size_t q = 0; q < zn.size(); ++q)
    for (size_t v = 0; v < ztn.size(); ++v) {
      if (q == v) continue;
      Tensor s = mul(matmul(zn[q], ztn[v].t()), 1.0 / opts.tau_);
      Tensor l = resa_pair_loss(s, a, opts.symmetric_);
      total = total.defined() ? add(total, l) : l;
      ++terms;
    }
  return {mul(total, 1.0 / static_cast<double>(terms)), a};
}

ReSALossResult resa_loss_momentum_free(const Tensor& h0, const std::vector<Tensor>& z, const ReSALossOptions& opts) {
  check_options(opts);
  check_2d(h0, "h0");
  RESA_CHECK(z.size() >= 2, "[resa_loss] the momentum-free loss needs at least 2 views, got {}", z.size());
  const int64_t m = h0.size(0);
  check_views(z, "z", m, z[0].shape());

  Tensor a = assignment(h0, h0, opts);
  std::vector<Tensor> zn;
  for (const auto& t : z) zn.push_back(l2_normalize(t, 1));
  Tensor total;
  int64_t terms = 0;
  for (size_t q = 0; q + 1 < zn.size(); ++q)
    for (size_t v = q + 1; v < zn.size(); ++v) {
      Tensor s = mul(matmul(zn[q], zn[v].t()), 1.0 / opts.tau_);
      Tensor l = resa_pair_loss(s, a, opts.symmetric_);
      total = total.defined() ? add(total, l) : l;
      ++terms;
    }
  return {mul(total, 1.0 / static_cast<double>(terms)), a};
}

}  // namespace resa
