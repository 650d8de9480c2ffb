#include "resa/data/loader.h"

#include <algorithm>
#include <memory>

namespace resa::data {

Loader::Loader(DatasetPtr dataset, std::vector<ViewConfig> views, LoaderOptions opts)
    : ds_(std::move(dataset)), views_(std::move(views)), opts_(opts) {
  RESA_CHECK(ds_ != nullptr, "[loader] no dataset");
  RESA_CHECK(!views_.empty(), "[loader] needs at least one view");
  RESA_CHECK(opts_.batch_size_ > 0, "[loader] batch size {} must be positive", opts_.batch_size_);
  RESA_CHECK(opts_.num_workers_ >= 1, "[loader] needs at least one worker, got {}", opts_.num_workers_);
  RESA_CHECK(opts_.prefetch_ >= 1, "[loader] prefetch {} must be positive", opts_.prefetch_);
  RESA_CHECK(ds_->size() > 0, "[loader] the dataset is empty");
  RESA_CHECK(opts_.world_ >= 1 && opts_.rank_ >= 0 && opts_.rank_ < opts_.world_,
             "[loader] rank {} is not a rank of a world of {}", opts_.rank_, opts_.world_);
  RESA_CHECK(opts_.world_ == 1 || opts_.drop_last_, "[loader] a sharded loader (world {}) needs drop_last",
             opts_.world_);
  channels_ = ds_->channels();
  for (const auto& v : views_) v.validate(channels_);
  slots_.resize(static_cast<size_t>(std::max(opts_.prefetch_, opts_.num_workers_)));
  for (int64_t i = 0; i < opts_.num_workers_; ++i) threads_.emplace_back([this] { worker_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : threads_) t.join();
}

int64_t Loader::batches_per_epoch() const {
  int64_t n = ds_->size(), b = opts_.batch_size_ * opts_.world_;
  return opts_.drop_last_ ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> Loader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(ds_->size()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  if (opts_.shuffle_) {
    // Index -1, view -1: a stream no sample's augmentation uses.
    Generator g = view_generator(opts_.seed_, epoch, -1, -1);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[g.randint(i)]);
  }
  return order;
}

void Loader::start_epoch(int64_t epoch) {
  auto order = epoch_order(epoch);
  std::unique_lock<std::mutex> lk(mu_);
  ++generation_;
  cv_idle_.wait(lk, [&] { return busy_ == 0; });  // no worker writes into a slot we are about to reset
  for (auto& s : slots_) {
    s.ready = false;
    s.batch = -1;
    s.error = nullptr;
  }
  order_ = std::move(order);
  epoch_ = epoch;
  nbatches_ = batches_per_epoch();
  next_job_ = cursor_ = released_ = 0;
  lk.unlock();
  cv_work_.notify_all();
}

std::optional<Batch> Loader::next() {
  std::unique_lock<std::mutex> lk(mu_);
  RESA_CHECK(epoch_ >= 0, "[loader] call start_epoch() before next()");
  if (released_ < cursor_) {
    released_ = cursor_;  // the batch handed out last is done with
    cv_work_.notify_all();
  }
  if (cursor_ >= nbatches_) return std::nullopt;
  Slot& s = slots_[static_cast<size_t>(cursor_ % static_cast<int64_t>(slots_.size()))];
  cv_ready_.wait(lk, [&] { return s.ready && s.batch == cursor_; });
  if (s.error) {
    auto err = s.error;
    s.error = nullptr;
    s.ready = false;
    ++cursor_;
    std::rethrow_exception(err);
  }
  Batch b;
  b.views = s.views;
  b.labels = s.labels;
  b.indices = s.indices;
  b.epoch = epoch_;
  b.index = cursor_;
  s.ready = false;
  ++cursor_;
  return b;
}

namespace {
// True when nothing outside the slot refers to t's data.
bool exclusively_owned(const Tensor& t) {
  return t.defined() && t.impl_ptr().use_count() == 1 && t.storage().use_count() == 1;
}
}  // namespace

void Loader::alloc_slot(Slot& slot, int64_t n) {
  bool reuse = slot.views.size() == views_.size() && exclusively_owned(slot.labels) &&
               exclusively_owned(slot.indices) && slot.labels.size(0) == n;
  for (size_t v = 0; reuse && v < views_.size(); ++v) reuse = exclusively_owned(slot.views[v]);
  if (reuse) {
    // The caller has let go of the batch, but a copy to the device it queued from a pinned slot may
    // still be reading it: wait for that before overwriting (a no-op for ordinary memory).
    for (const auto& t : slot.views)
      if (t.is_pinned()) wait_host_buffer(t.raw_data());
    for (const Tensor* t : {&slot.labels, &slot.indices})
      if (t->is_pinned()) wait_host_buffer(t->raw_data());
    return;
  }
  // Fresh buffers. Pinned blocks coming back from the allocator's cache were fenced there.
  auto make = [&](const Shape& shape, DType dtype) {
    return opts_.pin_memory_ ? Tensor::empty_pinned(shape, dtype) : Tensor::empty(shape, dtype);
  };
  slot.views.clear();
  for (const auto& v : views_) slot.views.push_back(make({n, channels_, v.size_, v.size_}, DType::Float32));
  slot.labels = make({n}, DType::Int64);
  slot.indices = make({n}, DType::Int64);
}

void Loader::fill(Slot& slot, int64_t batch, int64_t epoch, const std::vector<int64_t>& order) {
  const int64_t B = opts_.batch_size_;
  const int64_t start = (batch * opts_.world_ + opts_.rank_) * B;  // this rank's slice of the global batch
  const int64_t n = std::min(B, static_cast<int64_t>(order.size()) - start);
  alloc_slot(slot, n);
  int64_t* lab = slot.labels.data<int64_t>();
  int64_t* ind = slot.indices.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    int64_t idx = order[static_cast<size_t>(start + i)];
    Image img = ds_->image(idx);
    RESA_CHECK(img.channels == channels_, "[loader] sample {} has {} channels, the dataset says {}", idx, img.channels,
               channels_);
    lab[i] = ds_->label(idx);
    ind[i] = idx;
    for (size_t v = 0; v < views_.size(); ++v) {
      const int64_t S = views_[v].size_;
      Generator g = view_generator(opts_.seed_, epoch, idx, static_cast<int64_t>(v));
      apply_view(img, views_[v], g, slot.views[v].data<float>() + i * channels_ * S * S);
    }
  }
}

void Loader::worker_loop() {
  while (true) {
    std::unique_lock<std::mutex> lk(mu_);
    const int64_t nslots = static_cast<int64_t>(slots_.size());
    cv_work_.wait(lk, [&] { return stop_ || (next_job_ < nbatches_ && next_job_ < released_ + nslots); });
    if (stop_) return;
    int64_t job = next_job_++;
    int64_t gen = generation_, epoch = epoch_;
    Slot& slot = slots_[static_cast<size_t>(job % nslots)];
    // order_ is only replaced by start_epoch, which waits for busy_ == 0, so reading it unlocked is safe.
    const std::vector<int64_t>& order = order_;
    ++busy_;
    lk.unlock();
    std::exception_ptr err;
    try {
      fill(slot, job, epoch, order);
    } catch (...) {
      err = std::current_exception();
    }
    lk.lock();
    --busy_;
    if (gen == generation_) {
      slot.batch = job;
      slot.ready = true;
      slot.error = err;
      cv_ready_.notify_all();
    }
    cv_idle_.notify_all();
  }
}

}  // namespace resa::data
