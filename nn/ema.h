// The exponential-moving-average teacher (BYOL, ReSA's momentum encoder).
#pragma once
#include "resa/autograd/elementwise.h"
#include "resa/autograd/engine.h"
#include "resa/nn/module.h"
#include "resa/ops/optim.h"

namespace resa::nn {

// t = m * t + (1 - m) * s, in place, never recorded: the fused op where one applies (ops/optim.h),
// else the tensor ops, which run on every device.
inline void ema_tensor(const Tensor& t, const Tensor& s, double m) {
  if (t.shape() == s.shape() && ops::ema_update(t, s, m)) return;
  NoGradGuard ng;
  Tensor(t).copy_(t.detach() * m + s.detach() * (1.0 - m));
}

// teacher_p = m * teacher_p + (1 - m) * student_p for every parameter (same dotted names and shapes);
// buffers (BN running statistics) are copied from the student. In place, never recorded.
inline void ema_update(Module& teacher, const Module& student, double m) {
  RESA_CHECK(m >= 0.0 && m <= 1.0, "[ema_update] momentum must lie in [0, 1], got {}", m);
  NoGradGuard ng;
  auto tp = teacher.named_parameters(), sp = student.named_parameters();
  RESA_CHECK(tp.size() == sp.size(), "[ema_update] teacher has {} parameters, student {}", tp.size(), sp.size());
  for (size_t i = 0; i < tp.size(); ++i) {
    auto& [tn, t] = tp[i];
    auto& [sn, s] = sp[i];
    RESA_CHECK(tn == sn && t.shape() == s.shape(), "[ema_update] parameter {} {} of the teacher does not match {} {}",
               tn, shape_str(t.shape()), sn, shape_str(s.shape()));
    ema_tensor(t, s, m);
  }
  auto tb = teacher.named_buffers(), sb = student.named_buffers();
  RESA_CHECK(tb.size() == sb.size(), "[ema_update] teacher has {} buffers, student {}", tb.size(), sb.size());
  for (size_t i = 0; i < tb.size(); ++i) {
    RESA_CHECK(tb[i].first == sb[i].first && tb[i].second.shape() == sb[i].second.shape(),
               "[ema_update] buffer {} of the teacher does not match {}", tb[i].first, sb[i].first);
    tb[i].second.copy_(sb[i].second);
  }
}

}  // namespace resa::nn
