// The CUDA runtime of the engine: device discovery, the caching device allocator, the one stream per
// device that every kernel and cuBLAS call runs on, byte copies and pinned host buffers.
// A plain C++ header (no CUDA types), so that device-independent .cpp files may include it; it is only
// compiled in when RESA_WITH_CUDA is defined.
#pragma once
#include <cstddef>

#include "core/storage.h"

namespace resa::cuda {

// Number of visible CUDA devices; 0 (never an exception) when there is no driver or no device.
int device_count();

// The caching allocator for CUDA storages. Freed blocks go to size-bucketed free lists and are reused
// by later allocations of the same bucket, so steady-state training calls cudaMalloc/cudaFree never.
// Out of memory: the cache is released and the allocation retried once, then an error names the
// bytes asked for and the bytes free.
Allocator* caching_allocator();

// Statistics of the caching allocator for one device, in bytes: `current` = bytes in blocks handed out
// (rounded to their bucket), `peak` = the highest `current` since the last reset, `cached` = bytes in
// free lists, `num_allocs` = number of cudaMalloc calls made (it stays flat while the cache serves).
AllocatorStats allocator_stats(int device = 0);
void reset_peak_stats(int device = 0);
// Returns every cached (free) block to the driver. Blocks in use are untouched.
void empty_cache();

// dst <- src, n bytes; each side on the host or on a CUDA device. Copies that touch the host wait for
// completion (the host buffer may be reused as soon as this returns); device-to-device copies are
// ordered on the stream.
void copy_bytes(void* dst, bool dst_is_cuda, const void* src, bool src_is_cuda, size_t n);
// Waits for all work on the current device's stream.
void synchronize();

// Page-locked host buffers for the data loader (faster, truly asynchronous host-to-device copies).
void* alloc_pinned(size_t nbytes);
void free_pinned(void* ptr);

// TF32 tensor cores for float32 GEMMs (about 10 mantissa bits in the products); off by default.
void set_allow_tf32(bool allow);
bool allow_tf32();

// The index of the current CUDA device (the one kernels run on).
int current_device();

}  // namespace resa::cuda
