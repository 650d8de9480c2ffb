// A multi-threaded loader: worker threads decode and augment samples into preallocated float batch
// buffers ahead of the training loop (a bounded ring of batches), with a per-epoch shuffle, drop_last
// and several views per sample.
//
// Determinism: the augmentation of sample i, view v in epoch e draws from
// view_generator(seed, e, i, v) and the epoch's order from a Generator keyed by (seed, e), so the same
// seed gives the same batches whatever the number of workers.
//
// Lifetime: a Batch's tensors view a ring slot. The slot is reused for a later batch only when the
// caller holds no reference to its tensors any more (checked with the storage's use count); if the
// caller kept them, the worker allocates fresh buffers instead, so a kept batch is never overwritten.
//
// Pinned memory (pin_memory(true), set by the trainer when it trains on a CUDA device): the slot
// buffers are page-locked host memory (Tensor::empty_pinned), so `batch.views[v].to(cuda)` only queues
// the copy and returns while the DMA runs. The device may thus still be reading a slot when the caller
// lets go of its batch; before a worker writes into a reused slot it waits for those copies
// (wait_host_buffer), and a slot it drops goes back to the pinned allocator, which waits before handing
// the block out again. Without CUDA (or without a device) the buffers are ordinary memory and the
// batches are the same either way: pinning changes where the bytes live, never what they are.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "resa/core/tensor.h"
#include "resa/data/augment.h"
#include "resa/data/dataset.h"

namespace resa::data {

struct LoaderOptions {
  RESA_OPTION(int64_t, batch_size, 256);
  RESA_OPTION(bool, shuffle, true);
  RESA_OPTION(bool, drop_last, true);
  RESA_OPTION(int64_t, num_workers, 2);
  RESA_OPTION(int64_t, prefetch, 4);  // batches in the ring (>= num_workers keeps every worker busy)
  RESA_OPTION(uint64_t, seed, 0);
  // Distributed sampler: this process is rank `rank_` of `world_`. Global batch b of an epoch is
  // order[b * B * world, (b + 1) * B * world) of the epoch's shuffled order (the same on every rank);
  // rank r takes its r-th slice of B = batch_size_ samples. So the global batch does not depend on the
  // world size, only on batch_size_ * world_. Needs drop_last when world_ > 1.
  int64_t rank_ = 0, world_ = 1;
  // Slot buffers in page-locked host memory, for asynchronous copies to a CUDA device (see above).
  RESA_FLAG(pin_memory, false);

  LoaderOptions& shard(int64_t rank, int64_t world) {
    rank_ = rank;
    world_ = world;
    return *this;
  }
};

struct Batch {
  std::vector<Tensor> views;  // one (N, C, S_v, S_v) float32 CPU tensor per view (pinned with pin_memory)
  Tensor labels;              // (N) int64
  Tensor indices;             // (N) int64: the dataset indices of the samples
  int64_t epoch = 0, index = 0;
};

class Loader {
 public:
  Loader(DatasetPtr dataset, std::vector<ViewConfig> views, LoaderOptions opts);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts (or restarts) epoch `epoch`: reshuffles and lets the workers run ahead.
  void start_epoch(int64_t epoch);
  // The next batch of the current epoch, or nullopt at its end. Rethrows a worker's error.
  std::optional<Batch> next();
  // Batches per epoch of this rank (= global batches per epoch).
  int64_t batches_per_epoch() const;
  int64_t epoch() const { return epoch_; }
  const Dataset& dataset() const { return *ds_; }
  // The sample order of an epoch (what the shuffle gives; for tests).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  struct Slot {
    std::vector<Tensor> views;
    Tensor labels, indices;
    int64_t batch = -1;
    bool ready = false;
    std::exception_ptr error;
  };
  void worker_loop();
  void fill(Slot& slot, int64_t batch, int64_t epoch, const std::vector<int64_t>& order);
  void alloc_slot(Slot& slot, int64_t n);

  DatasetPtr ds_;
  std::vector<ViewConfig> views_;
  LoaderOptions opts_;
  int64_t channels_;

  std::mutex mu_;
  std::condition_variable cv_work_, cv_ready_, cv_idle_;
  std::vector<Slot> slots_;
  std::vector<int64_t> order_;
  int64_t epoch_ = -1, nbatches_ = 0;
  int64_t next_job_ = 0;    // next batch a worker takes
  int64_t cursor_ = 0;      // next batch next() returns
  int64_t released_ = 0;    // batches [0, released_) are done with by the caller
  int64_t generation_ = 0;  // bumped by start_epoch so stale work is dropped
  int64_t busy_ = 0;        // workers filling a slot
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace resa::data
