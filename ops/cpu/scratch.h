// Scratch: an uninitialised buffer of n elements from the caching host allocator, for a kernel's
// temporary columns or partial sums. Unlike std::vector it does not zero its memory (a full extra pass
// over a column matrix that is about to be overwritten), and a block freed by one step is handed back
// to the next instead of being unmapped and faulted in again.
#pragma once
#include <cstddef>

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

}  // namespace resa::cpu
