// The one point where the device-independent code reaches the CUDA backend. In a CPU-only build these
// functions exist too and say that CUDA is not compiled in; no CUDA header is ever included here.
#pragma once
#include <cstddef>

#include "resa/core/device.h"

namespace resa {
class Allocator;
}

namespace resa::dispatch {

// Whether this build contains the CUDA backend.
bool cuda_compiled();
int cuda_device_count();
Allocator* cuda_allocator();
// The page-locked host allocator; null without the CUDA backend or without a device (callers fall back
// to ordinary host memory).
Allocator* cuda_pinned_allocator();
// Waits for the copies to a device still reading the pinned buffer that holds `ptr`; a no-op otherwise.
void cuda_wait_host_buffer(const void* ptr);
void cuda_copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes);
void cuda_synchronize();
// The engine's stream on the current device as an opaque handle (a cudaStream_t), for libraries that
// queue work behind the engine's kernels (resa/dist's NCCL backend); null without the CUDA backend.
void* cuda_stream();

// Throws "[op] has no CUDA kernel" (or "built without CUDA"): never a silent fallback.
[[noreturn]] void no_cuda_kernel(const char* op);

}  // namespace resa::dispatch

// RESA_BACKEND_CALL(device, op, kernel, args...): runs the kernel of the backend that holds `device`,
// cuda::kernel(args...) on a CUDA device and cpu::kernel(args...) on the CPU, for kernels whose two
// backends take the same arguments (ops/cpu/<family>.h and ops/cuda/kernels.h). In a build without the
// CUDA backend a CUDA device raises "[op] has no CUDA kernel (this build has no CUDA backend)"; in a CUDA
// build a kernel with no cuda:: twin does not compile. For ops/*.cpp only: they include the backends'
// headers (ops/cuda/kernels.h under RESA_WITH_CUDA). Kernels return void.
#ifdef RESA_WITH_CUDA
#define RESA_BACKEND_CALL(device, op, kernel, ...) \
  ((device).is_cuda() ? ::resa::cuda::kernel(__VA_ARGS__) : ::resa::cpu::kernel(__VA_ARGS__))
#else
#define RESA_BACKEND_CALL(device, op, kernel, ...) \
  ((device).is_cuda() ? ::resa::dispatch::no_cuda_kernel(op) : ::resa::cpu::kernel(__VA_ARGS__))
#endif
