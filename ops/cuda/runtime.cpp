// The CUDA runtime: devices, streams, cuBLAS handles, the caching allocator, copies, pinned memory.
#include "resa/ops/cuda/runtime.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "resa/core/backend.h"
#include "resa/core/error.h"
#include "resa/ops/cuda/check.h"

namespace resa::cuda {

[[noreturn]] void fail_cuda(const char* file, int line, const char* call, cudaError_t err) {
  RESA_FAIL("[cuda] {}:{}: {} failed: {} ({})", file, line, call, cudaGetErrorString(err), cudaGetErrorName(err));
}

[[noreturn]] void fail_cublas(const char* file, int line, const char* call, cublasStatus_t status) {
  RESA_FAIL("[cublas] {}:{}: {} failed: {} ({})", file, line, call, cublasGetStatusString(status),
            static_cast<int>(status));
}

[[noreturn]] void fail_message(const char* file, int line, const char* what) {
  RESA_FAIL("[cuda] {}:{}: {}", file, line, what);
}

namespace {

constexpr int kMaxDevices = 16;

int query_device_count() {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();  // no driver / no device: not an error for callers, just zero devices
    return 0;
  }
  return std::min(n, kMaxDevices);
}

void check_device_index(int device) {
  int n = device_count();
  RESA_CHECK(n > 0, "[cuda] no CUDA device is available (no driver or no GPU on this machine); cannot use cuda:{}",
             device);
  RESA_CHECK(device >= 0 && device < n, "[cuda] cuda:{} does not exist: this machine has {} CUDA device(s)", device, n);
}

// Makes `device` current for the scope and restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    RESA_CUDA_CHECK(cudaGetDevice(&prev_));
    if (prev_ != device) RESA_CUDA_CHECK(cudaSetDevice(device));
    switched_ = prev_ != device;
  }
  ~DeviceGuard() {
    if (switched_) (void)cudaSetDevice(prev_);
  }

 private:
  int prev_ = 0;
  bool switched_ = false;
};

struct PerDevice {
  std::once_flag once;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  int sms = 0;
};
std::array<PerDevice, kMaxDevices> g_devices;
std::atomic<bool> g_allow_tf32{false};

PerDevice& per_device() {
  int dev = current_device();
  RESA_CHECK(dev >= 0 && dev < kMaxDevices, "[cuda] device index {} is out of range", dev);
  PerDevice& d = g_devices[static_cast<size_t>(dev)];
  std::call_once(d.once, [&] {
    RESA_CUDA_CHECK(cudaStreamCreateWithFlags(&d.stream, cudaStreamNonBlocking));
    RESA_CUBLAS_CHECK(cublasCreate(&d.cublas));
    RESA_CUBLAS_CHECK(cublasSetStream(d.cublas, d.stream));
    RESA_CUDA_CHECK(cudaDeviceGetAttribute(&d.sms, cudaDevAttrMultiProcessorCount, dev));
  });
  return d;
}

// ---- the caching allocator ----

// Bucket of a request: multiples of 512 bytes up to 1 MiB, above that 8 buckets per power of two
// (at most 12.5% waste). Blocks are reused only within their bucket, so a free list never splits.
size_t bucket_size(size_t n) {
  if (n == 0) n = 1;
  if (n <= (size_t{1} << 20)) return (n + 511) / 512 * 512;
  size_t p = size_t{1} << (63 - __builtin_clzll(n));
  size_t step = p / 8;
  return (n + step - 1) / step * step;
}

struct DevicePool {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_blocks;  // bucket size -> cached blocks
  std::unordered_map<void*, size_t> live;            // block -> bucket size
  AllocatorStats stats;
};

class CachingAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes, int device) override {
    check_device_index(device);
    const size_t size = bucket_size(nbytes);
    DevicePool& pool = pools_[static_cast<size_t>(device)];
    std::lock_guard<std::mutex> lock(pool.mu);
    void* p = nullptr;
    auto it = pool.free_blocks.find(size);
    if (it != pool.free_blocks.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      pool.stats.cached -= size;
    } else {
      p = device_malloc(pool, size, nbytes, device);
    }
    pool.live.emplace(p, size);
    pool.stats.current += size;
    pool.stats.peak = std::max(pool.stats.peak, pool.stats.current);
    return p;
  }

  // Never throws (called from Storage's destructor): the block only moves to its free list.
  void deallocate(void* ptr, size_t, int device) override {
    if (ptr == nullptr || device < 0 || device >= kMaxDevices) return;
    DevicePool& pool = pools_[static_cast<size_t>(device)];
    std::lock_guard<std::mutex> lock(pool.mu);
    auto it = pool.live.find(ptr);
    if (it == pool.live.end()) return;
    size_t size = it->second;
    pool.live.erase(it);
    pool.free_blocks[size].push_back(ptr);
    pool.stats.current -= size;
    pool.stats.cached += size;
  }

  const char* name() const override { return "cuda-caching"; }

  AllocatorStats stats(int device) {
    DevicePool& pool = pools_.at(static_cast<size_t>(device));
    std::lock_guard<std::mutex> lock(pool.mu);
    return pool.stats;
  }

  void reset_peak(int device) {
    DevicePool& pool = pools_.at(static_cast<size_t>(device));
    std::lock_guard<std::mutex> lock(pool.mu);
    pool.stats.peak = pool.stats.current;
  }

  void empty_cache() {
    for (int d = 0; d < device_count(); ++d) {
      DevicePool& pool = pools_[static_cast<size_t>(d)];
      std::lock_guard<std::mutex> lock(pool.mu);
      DeviceGuard guard(d);
      release_locked(pool);
    }
  }

 private:
  // Frees every cached block of `pool` (lock held, device current).
  static void release_locked(DevicePool& pool) {
    for (auto& [size, blocks] : pool.free_blocks)
      for (void* p : blocks) RESA_CUDA_CHECK(cudaFree(p));
    pool.free_blocks.clear();
    pool.stats.cached = 0;
  }

  static void* device_malloc(DevicePool& pool, size_t size, size_t asked, int device) {
    DeviceGuard guard(device);
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      // Work still queued may use blocks about to be released: wait for it, then free the cache.
      RESA_CUDA_CHECK(cudaDeviceSynchronize());
      release_locked(pool);
      err = cudaMalloc(&p, size);
    }
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      (void)cudaMemGetInfo(&free_b, &total_b);
      RESA_FAIL(
          "[cuda allocator] out of memory on cuda:{}: asked for {} bytes ({} after rounding), {} bytes free of {} "
          "total; {} bytes held by live tensors (the cache was released and the allocation retried)",
          device, asked, size, free_b, total_b, pool.stats.current);
    }
    if (err != cudaSuccess) fail_cuda(__FILE__, __LINE__, "cudaMalloc(&p, size)", err);
    ++pool.stats.num_allocs;
    return p;
  }

  std::array<DevicePool, kMaxDevices> pools_;
};

CachingAllocator& allocator_instance() {
  // Never destroyed: freeing device memory after the driver has shut down at exit would fail.
  static auto* a = new CachingAllocator();
  return *a;
}

// ---- the pinned host allocator ----

size_t pinned_cache_limit_from_env() {
  const char* e = std::getenv("RESA_PINNED_CACHE_MB");
  if (e == nullptr || *e == '\0') return size_t{1024} << 20;
  char* end = nullptr;
  unsigned long long mb = std::strtoull(e, &end, 10);
  return (end != nullptr && *end == '\0') ? static_cast<size_t>(mb) << 20 : size_t{1024} << 20;
}

struct PinnedBlock {
  size_t size = 0;    // bucket size (what cudaHostAlloc was asked for)
  bool live = false;  // handed out (false: in a free list)
  // device -> the event recorded on that device's stream after the last copy that read this block.
  // Created on first use, kept with the block (re-recorded by later copies), destroyed when the block
  // goes back to the driver.
  std::vector<std::pair<int, cudaEvent_t>> events;
};

// Page-locked host memory with a per-block fence. Copies from a block are queued without waiting; the
// event recorded after each one says when the device has finished reading the block, and every path that
// lets the host write the block again (wait(), reuse of a freed block, release to the driver) waits for
// it first.
class PinnedAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes, int) override {
    RESA_CHECK(device_count() > 0,
               "[cuda] pinned host memory needs a CUDA device; none is available (asked for {} bytes)", nbytes);
    const size_t size = bucket_size(nbytes);
    void* p = nullptr;
    std::vector<cudaEvent_t> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Oldest freed first: the one whose copies most likely finished already.
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        p = it->second.front();
        it->second.erase(it->second.begin());
        stats_.cached -= size;
      } else {
        p = host_alloc_locked(size, nbytes);
      }
      PinnedBlock& b = blocks_.at(addr(p));
      b.live = true;
      for (auto& [dev, e] : b.events) pending.push_back(e);
      stats_.current += size;
      stats_.peak = std::max(stats_.peak, stats_.current);
    }
    // A reused block may still be the source of a copy; its new owner is about to write it. The events
    // stay valid outside the lock: only release of a cached block destroys them, and this one is live.
    for (cudaEvent_t e : pending) RESA_CUDA_CHECK(cudaEventSynchronize(e));
    return p;
  }

  // Never throws (called from Storage's destructor). Does not wait either: the fence is checked when
  // the block is handed out again or released to the driver.
  void deallocate(void* ptr, size_t, int) override {
    if (ptr == nullptr) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blocks_.find(addr(ptr));
    if (it == blocks_.end() || !it->second.live) return;
    const size_t size = it->second.size;
    it->second.live = false;
    stats_.current -= size;
    if (stats_.cached + size <= limit_) {
      try {
        free_[size].push_back(ptr);
        stats_.cached += size;
        return;
      } catch (...) {  // no memory for the list entry: give the block back instead
      }
    }
    free_block_locked(it);
  }

  const char* name() const override { return "cuda-pinned-host"; }

  // Queues dst <- src (n bytes) on `stream` of `device` and fences the source block, when src..src+n lies
  // in a live pinned block; returns false (and does nothing) otherwise.
  bool copy_to_device(void* dst, const void* src, size_t n, cudaStream_t stream, int device) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = find_locked(src);
    if (it == blocks_.end() || !it->second.live || addr(src) + n > it->first + it->second.size) return false;
    RESA_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream));
    cudaEvent_t event = nullptr;
    for (auto& [dev, e] : it->second.events)
      if (dev == device) event = e;
    if (event == nullptr) {
      RESA_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
      it->second.events.emplace_back(device, event);
    }
    // Later records replace earlier ones: copies on one stream finish in order, so the last one is enough.
    RESA_CUDA_CHECK(cudaEventRecord(event, stream));
    return true;
  }

  void wait(const void* ptr) {
    std::vector<cudaEvent_t> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = find_locked(ptr);
      if (it == blocks_.end()) return;
      for (auto& [dev, e] : it->second.events) pending.push_back(e);
    }
    // Outside the lock, so that other threads may queue copies meanwhile. The caller owns the block, so
    // it is not released (which would destroy the events) while we wait.
    for (cudaEvent_t e : pending) RESA_CUDA_CHECK(cudaEventSynchronize(e));
  }

  bool contains(const void* ptr) {
    std::lock_guard<std::mutex> lock(mu_);
    return find_locked(ptr) != blocks_.end();
  }

  AllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    release_locked();
  }

 private:
  using Blocks = std::map<uintptr_t, PinnedBlock>;
  static uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

  // The block that holds ptr (anywhere inside it), or end().
  Blocks::iterator find_locked(const void* ptr) {
    auto it = blocks_.upper_bound(addr(ptr));
    if (it == blocks_.begin()) return blocks_.end();
    --it;
    return addr(ptr) < it->first + it->second.size ? it : blocks_.end();
  }

  void* host_alloc_locked(size_t size, size_t asked) {
    void* p = nullptr;
    // Portable: the block counts as pinned for every device, so any rank's GPU may copy from it.
    cudaError_t err = cudaHostAlloc(&p, size, cudaHostAllocPortable);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_locked();
      err = cudaHostAlloc(&p, size, cudaHostAllocPortable);
    }
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      RESA_FAIL(
          "[cuda pinned allocator] out of page-locked host memory: asked for {} bytes ({} after rounding); {} bytes "
          "held by live pinned buffers (the cache was released and the allocation retried)",
          asked, size, stats_.current);
    }
    if (err != cudaSuccess) fail_cuda(__FILE__, __LINE__, "cudaHostAlloc(&p, size, cudaHostAllocPortable)", err);
    blocks_.emplace(addr(p), PinnedBlock{size, false, {}});
    ++stats_.num_allocs;
    return p;
  }

  // Gives a block that is not live back to the driver, after the copies that read it (never throws:
  // reached from deallocate).
  void free_block_locked(Blocks::iterator it) {
    for (auto& [dev, e] : it->second.events) {
      (void)cudaEventSynchronize(e);
      (void)cudaEventDestroy(e);
    }
    (void)cudaFreeHost(reinterpret_cast<void*>(it->first));
    blocks_.erase(it);
  }

  void release_locked() {
    for (auto& [size, list] : free_)
      for (void* p : list) {
        auto it = blocks_.find(addr(p));
        if (it != blocks_.end()) free_block_locked(it);
      }
    free_.clear();
    stats_.cached = 0;
  }

  std::mutex mu_;
  Blocks blocks_;                              // every block made and not yet released, by start address
  std::map<size_t, std::vector<void*>> free_;  // bucket size -> cached blocks, oldest first
  AllocatorStats stats_;
  size_t limit_ = pinned_cache_limit_from_env();
};

PinnedAllocator& pinned_instance() {
  // Never destroyed, like the device allocator: pinned blocks may be freed by statics at exit.
  static auto* a = new PinnedAllocator();
  return *a;
}

}  // namespace

int device_count() {
  static const int n = query_device_count();
  return n;
}

int current_device() {
  int d = 0;
  RESA_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

Allocator* caching_allocator() { return &allocator_instance(); }

AllocatorStats allocator_stats(int device) {
  RESA_CHECK(device >= 0 && device < kMaxDevices, "[cuda] device index {} is out of range", device);
  return allocator_instance().stats(device);
}

void reset_peak_stats(int device) {
  RESA_CHECK(device >= 0 && device < kMaxDevices, "[cuda] device index {} is out of range", device);
  allocator_instance().reset_peak(device);
}

void empty_cache() { allocator_instance().empty_cache(); }

cudaStream_t stream() { return per_device().stream; }
cublasHandle_t cublas_handle() { return per_device().cublas; }
int sm_count() { return per_device().sms; }

void copy_bytes(void* dst, bool dst_is_cuda, const void* src, bool src_is_cuda, size_t n) {
  if (n == 0) return;
  if (device_count() == 0) check_device_index(0);  // throws the clear "no CUDA device" message
  cudaStream_t s = stream();
  if (dst_is_cuda && src_is_cuda) {
    RESA_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, s));
    return;
  }
  // From pinned memory: queued and fenced, not waited for (the point of pinning the loader's buffers).
  if (dst_is_cuda && pinned_instance().copy_to_device(dst, src, n, s, current_device())) return;
  // Into pinned memory: a copy on another device's stream may still be reading the buffer.
  if (!dst_is_cuda) pinned_instance().wait(dst);
  cudaMemcpyKind kind = dst_is_cuda   ? cudaMemcpyHostToDevice
                        : src_is_cuda ? cudaMemcpyDeviceToHost
                                      : cudaMemcpyHostToHost;
  RESA_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, kind, s));
  RESA_CUDA_CHECK(cudaStreamSynchronize(s));
}

void synchronize() {
  if (device_count() == 0) return;
  RESA_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

Allocator* pinned_allocator() { return &pinned_instance(); }
AllocatorStats pinned_allocator_stats() { return pinned_instance().stats(); }
void empty_pinned_cache() { pinned_instance().empty_cache(); }
bool is_pinned(const void* ptr) { return ptr != nullptr && pinned_instance().contains(ptr); }
void wait_host_buffer(const void* ptr) {
  if (ptr != nullptr) pinned_instance().wait(ptr);
}

void* alloc_pinned(size_t nbytes) { return pinned_instance().allocate(nbytes, 0); }
void free_pinned(void* ptr) { pinned_instance().deallocate(ptr, 0, 0); }

void set_allow_tf32(bool allow) { g_allow_tf32.store(allow); }
bool allow_tf32() { return g_allow_tf32.load(); }

DeviceBuffer::DeviceBuffer(size_t nbytes) : nbytes_(nbytes), device_(current_device()) {
  ptr_ = allocator_instance().allocate(nbytes, device_);
}

DeviceBuffer::~DeviceBuffer() { allocator_instance().deallocate(ptr_, nbytes_, device_); }

namespace {
// The table through which core reaches this backend (core/backend.h), registered before main() runs.
// Every CUDA kernel wrapper uses this file's stream and allocator, so a program that runs anything on
// a device links this file, and with it the registration.
const backend::DeviceBackend kBackend{
    "cuda",
    [] { return device_count(); },
    [] { return caching_allocator(); },
    []() -> Allocator* { return device_count() > 0 ? pinned_allocator() : nullptr; },
    [](const void* ptr) { wait_host_buffer(ptr); },
    [](void* dst, Device dd, const void* src, Device sd, size_t n) {
      copy_bytes(dst, dd.is_cuda(), src, sd.is_cuda(), n);
    },
    [] { synchronize(); },
};
[[maybe_unused]] const bool kRegistered = (backend::register_cuda(&kBackend), true);
}  // namespace

}  // namespace resa::cuda
