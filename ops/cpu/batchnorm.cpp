#include "resa/ops/cpu/batchnorm.h"

#include <algorithm>

#include "resa/core/parallel.h"
#include "resa/ops/cpu/isa.h"

namespace resa::cpu {
namespace {
int64_t channel_grain(int64_t n, int64_t l) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, n * l)); }
}  // namespace

// The loops over each channel's rows are in ops/cpu/isa_kernels.h (one version per vector ISA); here
// the channels are split across threads.
template <typename T>
void batch_norm_train(int64_t n, int64_t c, int64_t l, const T* x, const T* weight, const T* bias, double eps,
                      double momentum, T* y, T* mean, T* invstd, T* running_mean, T* running_var, bool relu) {
  const auto& k = isa_kernels<T>();
  parallel_for(c, channel_grain(n, l), [&](int64_t c0, int64_t c1) {
    k.bn_train(n, c, l, c0, c1, x, weight, bias, eps, momentum, relu, y, mean, invstd, running_mean, running_var);
  });
}

template <typename T>
void batch_norm_eval(int64_t n, int64_t c, int64_t l, const T* x, const T* weight, const T* bias, const T* running_mean,
                     const T* running_var, double eps, T* y, T* mean, T* invstd, bool relu) {
  const auto& k = isa_kernels<T>();
  parallel_for(c, channel_grain(n, l), [&](int64_t c0, int64_t c1) {
    k.bn_eval(n, c, l, c0, c1, x, weight, bias, running_mean, running_var, eps, relu, y, mean, invstd);
  });
}

template <typename T>
void batch_norm_backward(int64_t n, int64_t c, int64_t l, const T* dy, const T* x, const T* weight, const T* mean,
                         const T* invstd, bool training, T* dx, T* dweight, T* dbias, const T* relu_out) {
  const auto& k = isa_kernels<T>();
  parallel_for(c, channel_grain(n, l), [&](int64_t c0, int64_t c1) {
    k.bn_backward(n, c, l, c0, c1, dy, x, weight, mean, invstd, training, relu_out, dx, dweight, dbias);
  });
}

#define RESA_BN_INSTANTIATE(T)                                                                                       \
  template void batch_norm_train<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, double, double, T*, T*, \
                                    T*, T*, T*, bool);                                                               \
  template void batch_norm_eval<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*, const T*,      \
                                   double, T*, T*, T*, bool);                                                        \
  template void batch_norm_backward<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*, const T*,  \
                                       bool, T*, T*, T*, const T*);
RESA_BN_INSTANTIATE(float)
RESA_BN_INSTANTIATE(double)
#undef RESA_BN_INSTANTIATE

void batch_norm_train(DType dtype, int64_t n, int64_t c, int64_t l, const void* x, const void* weight, const void* bias,
                      double eps, double momentum, void* y, void* mean, void* invstd, void* running_mean,
                      void* running_var, bool relu) {
  RESA_DISPATCH_FLOAT(dtype, "batch_norm", [&] {
    using T = scalar_t;
    batch_norm_train<T>(n, c, l, static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<const T*>(bias),
                        eps, momentum, static_cast<T*>(y), static_cast<T*>(mean), static_cast<T*>(invstd),
                        static_cast<T*>(running_mean), static_cast<T*>(running_var), relu);
  });
}

void batch_norm_eval(DType dtype, int64_t n, int64_t c, int64_t l, const void* x, const void* weight, const void* bias,
                     const void* running_mean, const void* running_var, double eps, void* y, void* mean, void* invstd,
                     bool relu) {
  RESA_DISPATCH_FLOAT(dtype, "batch_norm", [&] {
    using T = scalar_t;
    batch_norm_eval<T>(n, c, l, static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<const T*>(bias),
                       static_cast<const T*>(running_mean), static_cast<const T*>(running_var), eps, static_cast<T*>(y),
                       static_cast<T*>(mean), static_cast<T*>(invstd), relu);
  });
}

void batch_norm_backward(DType dtype, int64_t n, int64_t c, int64_t l, const void* dy, const void* x,
                         const void* weight, const void* mean, const void* invstd, bool training, void* dx,
                         void* dweight, void* dbias, const void* relu_out) {
  RESA_DISPATCH_FLOAT(dtype, "batch_norm_backward", [&] {
    using T = scalar_t;
    batch_norm_backward<T>(n, c, l, static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<const T*>(weight),
                           static_cast<const T*>(mean), static_cast<const T*>(invstd), training, static_cast<T*>(dx),
                           static_cast<T*>(dweight), static_cast<T*>(dbias), static_cast<const T*>(relu_out));
  });
}

}  // namespace resa::cpu
