#include "resa/ops/dispatch.h"

#include "resa/core/storage.h"

#ifdef RESA_WITH_CUDA
#include "resa/ops/cuda/check.h"
#include "resa/ops/cuda/runtime.h"
#endif

namespace resa::dispatch {

#ifdef RESA_WITH_CUDA
bool cuda_compiled() { return true; }
int cuda_device_count() { return cuda::device_count(); }
Allocator* cuda_allocator() { return cuda::caching_allocator(); }
Allocator* cuda_pinned_allocator() { return cuda::device_count() > 0 ? cuda::pinned_allocator() : nullptr; }
void cuda_wait_host_buffer(const void* ptr) { cuda::wait_host_buffer(ptr); }
void cuda_copy_bytes(void* dst, Device dd, const void* src, Device sd, size_t n) {
  cuda::copy_bytes(dst, dd.is_cuda(), src, sd.is_cuda(), n);
}
void cuda_synchronize() { cuda::synchronize(); }
void* cuda_stream() { return static_cast<void*>(cuda::stream()); }
void no_cuda_kernel(const char* op) { RESA_FAIL("[{}] has no CUDA kernel", op); }
#else
bool cuda_compiled() { return false; }
int cuda_device_count() { return 0; }
Allocator* cuda_allocator() {
  RESA_FAIL("[device] this build has no CUDA backend (configure with -DRESA_CUDA=ON on a machine with nvcc)");
}
Allocator* cuda_pinned_allocator() { return nullptr; }
void cuda_wait_host_buffer(const void*) {}
void cuda_copy_bytes(void*, Device, const void*, Device, size_t) { cuda_allocator(); }
void cuda_synchronize() {}
void* cuda_stream() { return nullptr; }
void no_cuda_kernel(const char* op) { RESA_FAIL("[{}] has no CUDA kernel (this build has no CUDA backend)", op); }
#endif

}  // namespace resa::dispatch
