// Storage: a reference-counted block of bytes on one device. Tensors are views into a Storage.
#pragma once
#include <cstddef>
#include <memory>

#include "resa/core/device.h"

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

// Page-locked ("pinned") host memory: the source from which a copy to a CUDA device can run asynchronously
// (the device reads it by DMA while the host goes on). The allocator lives in the CUDA backend and is
// reached through the backend table (core/backend.h), so core/ needs no CUDA header. Null when the build has no CUDA
// backend or the machine has no CUDA device: callers then fall back to ordinary host memory.
Allocator* pinned_allocator();

// The fence for pinned buffers. A copy from a pinned buffer to a device may still be reading it when
// Tensor::to() returns; before the host writes into such a buffer again, it calls this, which waits until
// every copy issued from the buffer so far has finished. `ptr` may point anywhere inside the buffer.
// A no-op for memory that is not pinned, and in a build or on a machine without CUDA.
void wait_host_buffer(const void* ptr);

class Storage {
 public:
  Storage(size_t nbytes, Device device);
  // Allocates from `allocator`, which must hand out memory of `device` (used for pinned host memory).
  Storage(size_t nbytes, Device device, Allocator* allocator);
  // Wraps memory owned elsewhere (not freed by the Storage).
  Storage(void* external, size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  // True when the bytes are page-locked host memory from pinned_allocator() (false for the fallback to
  // ordinary memory where there is no CUDA).
  bool pinned() const { return pinned_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;  // null for external memory
  bool pinned_ = false;
};

// Byte copies between devices (host<->device through the CUDA backend).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes);

}  // namespace resa
