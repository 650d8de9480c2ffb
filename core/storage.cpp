#include "core/storage.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "ops/dispatch.h"

namespace resa {
namespace {

std::atomic<size_t> g_current{0}, g_peak{0}, g_allocs{0};

// 64-byte aligned host memory: one cache line, the width of an AVX-512 register.
class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes, int) override {
    size_t rounded = (nbytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    void* p = std::aligned_alloc(64, rounded);
    RESA_CHECK(p != nullptr, "[cpu allocator] out of memory asking for {} bytes ({} in use)", nbytes,
               g_current.load());
    size_t cur = g_current.fetch_add(nbytes) + nbytes;
    size_t peak = g_peak.load();
    while (cur > peak && !g_peak.compare_exchange_weak(peak, cur)) {
    }
    ++g_allocs;
    return p;
  }
  void deallocate(void* p, size_t nbytes, int) override {
    g_current.fetch_sub(nbytes);
    std::free(p);
  }
  const char* name() const override { return "cpu-aligned64"; }
};

}  // namespace

Allocator* cpu_allocator() {
  static CpuAllocator a;
  return &a;
}

AllocatorStats cpu_allocator_stats() {
  AllocatorStats s;
  s.current = g_current.load();
  s.peak = g_peak.load();
  s.num_allocs = g_allocs.load();
  return s;
}

Allocator* allocator_for(Device d) {
  if (d.is_cpu()) return cpu_allocator();
  return dispatch::cuda_allocator();
}

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  allocator_ = allocator_for(device);
  data_ = allocator_->allocate(nbytes, device.index);
}

Storage::Storage(void* external, size_t nbytes, Device device)
    : data_(external), nbytes_(nbytes), device_(device) {}

Storage::~Storage() {
  if (allocator_ && data_) allocator_->deallocate(data_, nbytes_, device_.index);
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, nbytes);
    return;
  }
  dispatch::cuda_copy_bytes(dst, dst_device, src, src_device, nbytes);
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return kCPU;
  if (s == "cuda") return cuda_device(0);
  if (s.rfind("cuda:", 0) == 0) {
    try {
      return cuda_device(std::stoi(s.substr(5)));
    } catch (const std::exception&) {
    }
  }
  RESA_FAIL("[device] '{}' is not a device (expected cpu, cuda or cuda:N)", s);
}

bool cuda_available() { return dispatch::cuda_device_count() > 0; }
int cuda_device_count() { return dispatch::cuda_device_count(); }

}  // namespace resa
