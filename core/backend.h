// How core reaches a device backend without depending on it. Core owns host memory; the CUDA backend
// (ops/cuda, a layer above) fills in this table of functions and registers it when the program starts
// (ops/dispatch.cpp). Storage, copies and device queries go through the table, so core includes no
// backend header and links no backend library.
#pragma once
#include <cstddef>

#include "resa/core/device.h"

namespace resa {

class Allocator;

namespace backend {

struct DeviceBackend {
  const char* name;
  int (*device_count)();
  Allocator* (*allocator)();         // device memory
  Allocator* (*pinned_allocator)();  // page-locked host memory, or null when there is no device
  void (*wait_host_buffer)(const void* ptr);
  void (*copy_bytes)(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes);
  void (*synchronize)();
};

// Registers the CUDA backend (the table must outlive the program); a second registration replaces it.
void register_cuda(const DeviceBackend* table);
// The registered CUDA backend, or null when the program has none (a CPU-only build).
const DeviceBackend* cuda();
// The registered CUDA backend; throws a message that says why there is none.
const DeviceBackend& require_cuda(const char* what);

}  // namespace backend
}  // namespace resa
