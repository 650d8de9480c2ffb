#include "resa/core/storage.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "resa/core/backend.h"

namespace resa {
namespace {

// Host allocator. Blocks of at least kCacheMin bytes are cached when freed and handed out again for a
// request of the same bucket: a training step asks for the same large activation and gradient sizes
// every iteration, and without the cache each one is a fresh mmap whose pages the kernel zeroes on
// first touch. Small blocks go straight to the C library (its own free lists are fast for them).
// The cache is bounded (RESA_CPU_CACHE_MB, default 2048; 0 disables it): when it would grow past the
// bound, and when the system is out of memory, the cached blocks are freed first.
// Stats, in bytes: current = bytes held by live tensors (rounded to their bucket), peak = the highest
// current, cached = bytes in free lists, num_allocs = calls into the C library (flat while the cache serves).
constexpr size_t kCacheMin = size_t{1} << 16;

// Buckets: 64-byte multiples below kCacheMin, 4 KiB pages up to 1 MiB, then 8 steps per power of two
// (at most 12.5% waste), so that nearby sizes share blocks.
size_t bucket_size(size_t n) {
  if (n == 0) n = 1;
  if (n < kCacheMin) return (n + 63) / 64 * 64;
  if (n <= (size_t{1} << 20)) return (n + 4095) / 4096 * 4096;
  size_t p = size_t{1} << (63 - __builtin_clzll(n));
  size_t step = p / 8;
  return (n + step - 1) / step * step;
}

size_t cache_limit_from_env() {
  const char* e = std::getenv("RESA_CPU_CACHE_MB");
  if (e == nullptr || *e == '\0') return size_t{2048} << 20;
  char* end = nullptr;
  unsigned long long mb = std::strtoull(e, &end, 10);
  return (end != nullptr && *end == '\0') ? static_cast<size_t>(mb) << 20 : size_t{2048} << 20;
}

class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes, int) override {
    const size_t size = bucket_size(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    void* p = nullptr;
    if (size >= kCacheMin) {
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        stats_.cached -= size;
      }
    }
    if (p == nullptr) {
      p = std::aligned_alloc(64, size);
      if (p == nullptr) {  // out of memory: give the cache back and try once more
        release_locked();
        p = std::aligned_alloc(64, size);
      }
      RESA_CHECK(p != nullptr, "[cpu allocator] out of memory asking for {} bytes ({} in use, cache released)", nbytes,
                 stats_.current);
      ++stats_.num_allocs;
    }
    stats_.current += size;
    stats_.peak = std::max(stats_.peak, stats_.current);
    return p;
  }

  // Never throws (called from Storage's destructor).
  void deallocate(void* p, size_t nbytes, int) override {
    if (p == nullptr) return;
    const size_t size = bucket_size(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.current -= size;
    if (size >= kCacheMin && size <= limit_) {
      if (stats_.cached + size > limit_) release_locked();
      try {
        free_[size].push_back(p);
        stats_.cached += size;
        return;
      } catch (...) {  // no memory for the list entry: free the block instead
      }
    }
    std::free(p);
  }

  const char* name() const override { return "cpu-aligned64-caching"; }

  AllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  void release_locked() {
    for (auto& [size, blocks] : free_)
      for (void* b : blocks) std::free(b);
    free_.clear();
    stats_.cached = 0;
  }

  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;  // bucket size -> cached blocks
  AllocatorStats stats_;
  size_t limit_ = cache_limit_from_env();
};

CpuAllocator& cpu_allocator_instance() {
  // Never destroyed: tensors in static storage may be freed after other statics at exit.
  static auto* a = new CpuAllocator();
  return *a;
}

}  // namespace

Allocator* cpu_allocator() { return &cpu_allocator_instance(); }

AllocatorStats cpu_allocator_stats() { return cpu_allocator_instance().stats(); }

Allocator* allocator_for(Device d) {
  if (d.is_cpu()) return cpu_allocator();
  return backend::require_cuda("device").allocator();
}

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  allocator_ = allocator_for(device);
  data_ = allocator_->allocate(nbytes, device.index);
}

Allocator* pinned_allocator() {
  const backend::DeviceBackend* b = backend::cuda();
  return b ? b->pinned_allocator() : nullptr;
}

void wait_host_buffer(const void* ptr) {
  const backend::DeviceBackend* b = backend::cuda();
  if (ptr != nullptr && b != nullptr) b->wait_host_buffer(ptr);
}

Storage::Storage(size_t nbytes, Device device, Allocator* allocator)
    : nbytes_(nbytes), device_(device), allocator_(allocator) {
  RESA_CHECK(allocator_ != nullptr, "[storage] no allocator given for {} bytes on {}", nbytes, device.str());
  pinned_ = device.is_cpu() && allocator_ == pinned_allocator();
  data_ = allocator_->allocate(nbytes, device.index);
}

Storage::Storage(void* external, size_t nbytes, Device device) : data_(external), nbytes_(nbytes), device_(device) {}

Storage::~Storage() {
  if (allocator_ && data_) allocator_->deallocate(data_, nbytes_, device_.index);
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, nbytes);
    return;
  }
  backend::require_cuda("copy").copy_bytes(dst, dst_device, src, src_device, nbytes);
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

int cuda_device_count() {
  const backend::DeviceBackend* b = backend::cuda();
  return b ? b->device_count() : 0;
}
bool cuda_available() { return cuda_device_count() > 0; }

}  // namespace resa
