// Storage: a reference-counted block of bytes on one device. Tensors are views into a Storage.
#pragma once
#include <cstddef>
#include <memory>

#include "core/device.h"

namespace resa {

// An allocator hands out raw blocks for one device type. The CPU one aligns to 64 bytes (one cache
// line, one AVX-512 register); the CUDA one (ops/cuda) caches freed blocks.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes, int device_index) = 0;
  virtual void deallocate(void* ptr, size_t nbytes, int device_index) = 0;
  virtual const char* name() const = 0;
};

// Statistics kept by an allocator, in bytes.
struct AllocatorStats {
  size_t current = 0;
  size_t peak = 0;
  size_t cached = 0;
  size_t num_allocs = 0;
};

Allocator* cpu_allocator();
AllocatorStats cpu_allocator_stats();
// The allocator for a device; throws if the build has no backend for it.
Allocator* allocator_for(Device d);

class Storage {
 public:
  Storage(size_t nbytes, Device device);
  // Wraps memory owned elsewhere (not freed by the Storage).
  Storage(void* external, size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;  // null for external memory
};

// Byte copies between devices (host<->device through the CUDA backend).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes);

}  // namespace resa
