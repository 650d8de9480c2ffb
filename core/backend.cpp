#include "resa/core/backend.h"

#include <atomic>

#include "resa/core/error.h"

namespace resa::backend {
namespace {
// Constant-initialised, so a registration from another file's static initialiser always finds it ready.
constinit std::atomic<const DeviceBackend*> g_cuda{nullptr};
}  // namespace

void register_cuda(const DeviceBackend* table) { g_cuda.store(table, std::memory_order_release); }

const DeviceBackend* cuda() { return g_cuda.load(std::memory_order_acquire); }

const DeviceBackend& require_cuda(const char* what) {
  const DeviceBackend* b = cuda();
  RESA_CHECK(b != nullptr, "[{}] this build has no CUDA backend (configure with -DRESA_CUDA=ON on a machine with nvcc)",
             what);
  return *b;
}

}  // namespace resa::backend
