// Scratch: an uninitialised buffer of n elements from the caching host allocator, for a kernel's
// temporary columns or partial sums. Unlike std::vector it does not zero its memory (a full extra pass
// over a column matrix that is about to be overwritten), and a block freed by one step is handed back
// to the next instead of being unmapped and faulted in again.
#pragma once
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>

#include "resa/core/storage.h"

namespace resa::cpu {

template <typename T>
class Scratch {
 public:
  explicit Scratch(size_t n) : bytes_(n * sizeof(T)) {
    if (n) data_ = static_cast<T*>(cpu_allocator()->allocate(bytes_, 0));
  }
  ~Scratch() {
    if (data_) cpu_allocator()->deallocate(data_, bytes_, 0);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  T* data() const { return data_; }
  T& operator[](size_t i) const { return data_[i]; }

 private:
  T* data_ = nullptr;
  size_t bytes_;
};

// The same, mapped straight from the system and unmapped when it goes: for a large block of a size no
// other kernel asks for (Winograd F(4x4, 3x3)'s 36 transformed filters per pair of channels, 9 MB for
// 256x256), which in the cache would stay resident after the call and raise the step's peak memory.
// Its pages are faulted in at first touch on every call; the block is asked for as 2 MiB pages where
// the system allows it (transparent huge pages on madvise), a few faults instead of one per 4 KiB, when
// it fills at least one such page.
template <typename T>
class MappedScratch {
 public:
  explicit MappedScratch(size_t n) : bytes_(n * sizeof(T)) {
    if (bytes_ == 0) return;
    mapped_ = bytes_ + kHuge;
    void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base_ = p;
    const auto addr = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(uintptr_t{kHuge} - 1);
    data_ = reinterpret_cast<T*>(addr);
    // Advice only (without it, 4 KiB pages); not for a block under one 2 MiB page, of which the first
    // touch would make the whole page resident.
    if (bytes_ >= kHuge) madvise(data_, bytes_, MADV_HUGEPAGE);
  }
  ~MappedScratch() {
    if (base_) munmap(base_, mapped_);
  }
  MappedScratch(const MappedScratch&) = delete;
  MappedScratch& operator=(const MappedScratch&) = delete;
  T* data() const { return data_; }

 private:
  static constexpr size_t kHuge = size_t{2} << 20;
  void* base_ = nullptr;
  T* data_ = nullptr;
  size_t bytes_, mapped_ = 0;
};

}  // namespace resa::cpu
