#include "resa/ops/batchnorm_stats.h"

#include "resa/ops/cpu/batchnorm_stats.h"
#include "resa/ops/dispatch.h"
#include "resa/ops/elementwise.h"
#ifdef RESA_WITH_CUDA
#include "resa/ops/cuda/batchnorm_stats.h"
#endif

namespace resa::ops {
namespace {

struct Geom {
  int64_t n, c, l;
};

Geom geometry(const Tensor& x, const char* op) {
  RESA_CHECK(x.defined() && (x.dim() == 2 || x.dim() == 4), "[{}] expects (N, C) or (N, C, H, W), got {}", op,
             x.defined() ? shape_str(x.shape()) : std::string("undefined"));
  RESA_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, "[{}] x {} must be float32 or float64", op,
             shape_str(x.shape()));
  return {x.size(0), x.size(1), x.dim() == 4 ? x.size(2) * x.size(3) : 1};
}

// A (C) float64 CPU statistic, contiguous.
const double* stat(const Tensor& t, int64_t c, const char* op, const char* what) {
  RESA_CHECK(t.defined() && t.dim() == 1 && t.size(0) == c && t.dtype() == DType::Float64 && t.device().is_cpu() &&
                 t.is_contiguous(),
             "[{}] {} must be a contiguous float64 CPU ({}) tensor, got {}", op, what, c,
             t.defined() ? shape_str(t.shape()) : std::string("undefined"));
  return t.data<double>();
}

void check_param(const Tensor& p, const Tensor& x, const char* op, const char* what) {
  if (!p.defined()) return;
  RESA_CHECK(p.dim() == 1 && p.size(0) == x.size(1) && p.dtype() == x.dtype() && p.device() == x.device(),
             "[{}] {} {} must be ({}) of x's dtype and device, x {}", op, what, shape_str(p.shape()), x.size(1),
             shape_str(x.shape()));
}

template <typename T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

#ifdef RESA_WITH_CUDA
const void* raw_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

// A (C) float64 CPU statistic copied to x's device, and a (C) float64 result there.
Tensor on_device(const Tensor& stat, const Tensor& x) { return to_device(stat, x.device()); }
Tensor device_stat(int64_t c, const Tensor& x) { return Tensor::empty({c}, DType::Float64, x.device()); }
#endif

}  // namespace

std::array<Tensor, 2> batch_norm_stats(const Tensor& x) {
  Geom g = geometry(x, "batch_norm_stats");
  Tensor xc = contiguous_of(x);
  if (x.device().is_cuda()) {
#ifdef RESA_WITH_CUDA
    Tensor s = device_stat(g.c, x), ss = device_stat(g.c, x);
    cuda::batch_norm_stats(x.dtype(), g.n, g.c, g.l, xc.raw_data(), s.data<double>(), ss.data<double>());
    return {to_device(s, kCPU), to_device(ss, kCPU)};
#else
    dispatch::no_cuda_kernel("batch_norm_stats");
#endif
  }
  Tensor sum = Tensor::empty({g.c}, DType::Float64), sumsq = Tensor::empty({g.c}, DType::Float64);
  if (x.dtype() == DType::Float32)
    cpu::batch_norm_stats(g.n, g.c, g.l, xc.data<float>(), sum.data<double>(), sumsq.data<double>());
  else
    cpu::batch_norm_stats(g.n, g.c, g.l, xc.data<double>(), sum.data<double>(), sumsq.data<double>());
  return {sum, sumsq};
}

Tensor batch_norm_elemt(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                        const Tensor& bias) {
  Geom g = geometry(x, "batch_norm_elemt");
  check_param(weight, x, "batch_norm_elemt", "weight");
  check_param(bias, x, "batch_norm_elemt", "bias");
  const double* m = stat(mean, g.c, "batch_norm_elemt", "mean");
  const double* is = stat(invstd, g.c, "batch_norm_elemt", "invstd");
  Tensor xc = contiguous_of(x);
  Tensor wc = weight.defined() ? contiguous_of(weight) : Tensor(), bc = bias.defined() ? contiguous_of(bias) : Tensor();
  if (x.device().is_cuda()) {
#ifdef RESA_WITH_CUDA
    Tensor md = on_device(mean, x), isd = on_device(invstd, x);
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
    cuda::batch_norm_elemt(x.dtype(), g.n, g.c, g.l, xc.raw_data(), md.data<double>(), isd.data<double>(),
                           raw_or_null(wc), raw_or_null(bc), y.raw_data());
    return y;
#else
    dispatch::no_cuda_kernel("batch_norm_elemt");
#endif
  }
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  if (x.dtype() == DType::Float32)
    cpu::batch_norm_elemt(g.n, g.c, g.l, xc.data<float>(), m, is, ptr_or_null<float>(wc), ptr_or_null<float>(bc),
                          y.data<float>());
  else
    cpu::batch_norm_elemt(g.n, g.c, g.l, xc.data<double>(), m, is, ptr_or_null<double>(wc), ptr_or_null<double>(bc),
                          y.data<double>());
  return y;
}

std::array<Tensor, 2> batch_norm_backward_reduce(const Tensor& dy, const Tensor& x, const Tensor& mean,
                                                 const Tensor& invstd) {
  Geom g = geometry(x, "batch_norm_backward_reduce");
  RESA_CHECK(dy.defined() && dy.shape() == x.shape() && dy.dtype() == x.dtype(),
             "[batch_norm_backward_reduce] dy {} must match x {}", dy.defined() ? shape_str(dy.shape()) : "undefined",
             shape_str(x.shape()));
  const double* m = stat(mean, g.c, "batch_norm_backward_reduce", "mean");
  const double* is = stat(invstd, g.c, "batch_norm_backward_reduce", "invstd");
  Tensor xc = contiguous_of(x), gc = contiguous_of(dy);
  if (x.device().is_cuda()) {
#ifdef RESA_WITH_CUDA
    RESA_CHECK(dy.device() == x.device(), "[batch_norm_backward_reduce] dy and x are on different devices");
    Tensor md = on_device(mean, x), isd = on_device(invstd, x), s = device_stat(g.c, x), sx = device_stat(g.c, x);
    cuda::batch_norm_backward_reduce(x.dtype(), g.n, g.c, g.l, gc.raw_data(), xc.raw_data(), md.data<double>(),
                                     isd.data<double>(), s.data<double>(), sx.data<double>());
    return {to_device(s, kCPU), to_device(sx, kCPU)};
#else
    dispatch::no_cuda_kernel("batch_norm_backward_reduce");
#endif
  }
  Tensor s = Tensor::empty({g.c}, DType::Float64), sx = Tensor::empty({g.c}, DType::Float64);
  if (x.dtype() == DType::Float32)
    cpu::batch_norm_backward_reduce(g.n, g.c, g.l, gc.data<float>(), xc.data<float>(), m, is, s.data<double>(),
                                    sx.data<double>());
  else
    cpu::batch_norm_backward_reduce(g.n, g.c, g.l, gc.data<double>(), xc.data<double>(), m, is, s.data<double>(),
                                    sx.data<double>());
  return {s, sx};
}

Tensor batch_norm_backward_elemt(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                                 const Tensor& weight, const Tensor& mean_dy, const Tensor& mean_dy_xhat) {
  Geom g = geometry(x, "batch_norm_backward_elemt");
  RESA_CHECK(dy.defined() && dy.shape() == x.shape() && dy.dtype() == x.dtype(),
             "[batch_norm_backward_elemt] dy {} must match x {}", dy.defined() ? shape_str(dy.shape()) : "undefined",
             shape_str(x.shape()));
  check_param(weight, x, "batch_norm_backward_elemt", "weight");
  const double* m = stat(mean, g.c, "batch_norm_backward_elemt", "mean");
  const double* is = stat(invstd, g.c, "batch_norm_backward_elemt", "invstd");
  const double* md = stat(mean_dy, g.c, "batch_norm_backward_elemt", "mean_dy");
  const double* mdx = stat(mean_dy_xhat, g.c, "batch_norm_backward_elemt", "mean_dy_xhat");
  Tensor xc = contiguous_of(x), gc = contiguous_of(dy), wc = weight.defined() ? contiguous_of(weight) : Tensor();
  if (x.device().is_cuda()) {
#ifdef RESA_WITH_CUDA
    RESA_CHECK(dy.device() == x.device(), "[batch_norm_backward_elemt] dy and x are on different devices");
    Tensor mdd = on_device(mean, x), isd = on_device(invstd, x), a = on_device(mean_dy, x),
           b = on_device(mean_dy_xhat, x);
    Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device());
    cuda::batch_norm_backward_elemt(x.dtype(), g.n, g.c, g.l, gc.raw_data(), xc.raw_data(), mdd.data<double>(),
                                    isd.data<double>(), raw_or_null(wc), a.data<double>(), b.data<double>(),
                                    dx.raw_data());
    return dx;
#else
    dispatch::no_cuda_kernel("batch_norm_backward_elemt");
#endif
  }
  Tensor dx = Tensor::empty(x.shape(), x.dtype());
  if (x.dtype() == DType::Float32)
    cpu::batch_norm_backward_elemt(g.n, g.c, g.l, gc.data<float>(), xc.data<float>(), m, is, ptr_or_null<float>(wc), md,
                                   mdx, dx.data<float>());
  else
    cpu::batch_norm_backward_elemt(g.n, g.c, g.l, gc.data<double>(), xc.data<double>(), m, is, ptr_or_null<double>(wc),
                                   md, mdx, dx.data<double>());
  return dx;
}

}  // namespace resa::ops
