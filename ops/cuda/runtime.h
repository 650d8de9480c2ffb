// The CUDA runtime of the engine: device discovery, the caching device allocator, the one stream per
// device that every kernel and cuBLAS call runs on, byte copies and pinned host buffers.
// A plain C++ header (no CUDA types), so that device-independent .cpp files may include it; it is only
// compiled in when RESA_WITH_CUDA is defined.
#pragma once
#include <cstddef>

#include "resa/core/storage.h"

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

// Releases the cached (free) blocks of the pinned host allocator too.
void empty_pinned_cache();

// dst <- src, n bytes; each side on the host or on a CUDA device.
// - host -> device from a buffer of pinned_allocator(): queued on the stream and not waited for, so the
//   host goes on while the DMA runs; an event recorded after the copy marks the buffer busy until then
//   (see wait_host_buffer). Kernels that read dst are queued behind the copy on the same stream.
// - host -> device from ordinary (pageable) memory, and device -> host: wait for completion, so the
//   caller may read or reuse the host buffer as soon as this returns.
// - device -> device: ordered on the stream.
void copy_bytes(void* dst, bool dst_is_cuda, const void* src, bool src_is_cuda, size_t n);
// Waits for all work on the current device's stream.
void synchronize();

// The page-locked host allocator (cudaHostAlloc, portable to every device). It keeps every block it
// made in a table, so copy_bytes can tell a pinned source (also a pointer into the middle of a block)
// and knows which event guards it. Freed blocks are cached by size bucket, up to RESA_PINNED_CACHE_MB
// (default 1024) bytes; a cached block is handed out again only after the copies that read it are done.
Allocator* pinned_allocator();
AllocatorStats pinned_allocator_stats();
// True when `ptr` points into a live or cached block of pinned_allocator().
bool is_pinned(const void* ptr);
// Blocks until every copy issued so far from the pinned block holding `ptr` has finished reading it.
// Call it before the host writes into a pinned buffer that was the source of a copy. A no-op for
// pointers the pinned allocator does not know.
void wait_host_buffer(const void* ptr);

// Raw page-locked buffers from pinned_allocator() (for callers that want bytes, not a tensor).
void* alloc_pinned(size_t nbytes);
void free_pinned(void* ptr);

// TF32 tensor cores for float32 GEMMs (about 10 mantissa bits in the products); off by default.
void set_allow_tf32(bool allow);
bool allow_tf32();

// The index of the current CUDA device (the one kernels run on).
int current_device();

}  // namespace resa::cuda
