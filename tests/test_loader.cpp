// The threaded loader: the same seed gives the same batches with 1 and 3 workers, every batch is the
// views drawn from the per-sample generators, drop_last, per-epoch reshuffle, kept batches stay intact,
// and a worker's error reaches the caller.
#include <atomic>
#include <set>

#include "resa/data/loader.h"
#include "test_util.h"

using namespace resa;
using namespace resa::data;

namespace {

DatasetPtr synthetic(int64_t n, int64_t c = 3, int64_t h = 12, int64_t w = 10) {
  return test::synthetic_dataset(n, c, h, w, 5);
}

std::vector<ViewConfig> two_views() {
  return {ViewConfig::weak(8).normalize(kCifar10Mean, kCifar10Std), ViewConfig::strong(6)};
}

std::vector<Batch> run_epoch(Loader& l, int64_t epoch) {
  l.start_epoch(epoch);
  std::vector<Batch> out;
  while (auto b = l.next()) out.push_back(*b);
  return out;
}

class FailingDataset : public Dataset {
 public:
  explicit FailingDataset(DatasetPtr base) : base_(std::move(base)) {}
  int64_t size() const override { return base_->size(); }
  Image image(int64_t i) const override {
    RESA_CHECK(i != 5, "[failing] sample {} is broken", i);
    return base_->image(i);
  }
  int64_t label(int64_t i) const override { return base_->label(i); }
  int64_t num_classes() const override { return 5; }
  int64_t channels() const override { return 3; }

 private:
  DatasetPtr base_;
};

}  // namespace

TEST_CASE("same seed, same batches with 1 and 3 workers; batches are the per-sample views") {
  auto ds = synthetic(37);
  Loader one(ds, two_views(), LoaderOptions().batch_size(8).num_workers(1).prefetch(2).seed(7));
  Loader three(ds, two_views(), LoaderOptions().batch_size(8).num_workers(3).prefetch(3).seed(7));
  for (int64_t epoch : {0, 1}) {
    auto a = run_epoch(one, epoch), b = run_epoch(three, epoch);
    REQUIRE(a.size() == 4);
    REQUIRE(b.size() == 4);
    for (size_t k = 0; k < a.size(); ++k) {
      CHECK(a[k].index == static_cast<int64_t>(k));
      CHECK(a[k].epoch == epoch);
      CHECK(a[k].indices.to_vector<int64_t>() == b[k].indices.to_vector<int64_t>());
      CHECK(a[k].labels.to_vector<int64_t>() == b[k].labels.to_vector<int64_t>());
      REQUIRE(a[k].views.size() == 2);
      CHECK(a[k].views[0].shape() == Shape{8, 3, 8, 8});
      CHECK(a[k].views[1].shape() == Shape{8, 3, 6, 6});
      for (size_t v = 0; v < 2; ++v) CHECK(a[k].views[v].to_vector<float>() == b[k].views[v].to_vector<float>());
      // Recompute every sample's views from its own generator (what the determinism rests on).
      auto idx = a[k].indices.to_vector<int64_t>();
      auto lab = a[k].labels.to_vector<int64_t>();
      auto cfg = two_views();
      for (size_t i = 0; i < idx.size(); ++i) {
        CHECK(lab[i] == ds->label(idx[i]));
        for (size_t v = 0; v < 2; ++v) {
          int64_t s = cfg[v].size_;
          std::vector<float> want(static_cast<size_t>(3 * s * s));
          Generator g = view_generator(7, epoch, idx[i], static_cast<int64_t>(v));
          apply_view(ds->image(idx[i]), cfg[v], g, want.data());
          const float* got = a[k].views[v].data<float>() + i * 3 * s * s;
          REQUIRE(std::vector<float>(got, got + 3 * s * s) == want);
        }
      }
    }
  }
  // Another seed gives other batches.
  Loader other(ds, two_views(), LoaderOptions().batch_size(8).num_workers(2).seed(8));
  auto c = run_epoch(other, 0);
  auto a0 = run_epoch(one, 0);
  CHECK(c[0].indices.to_vector<int64_t>() != a0[0].indices.to_vector<int64_t>());
}

TEST_CASE("drop_last and the last partial batch") {
  auto ds = synthetic(37);
  Loader drop(ds, {ViewConfig::weak(4)}, LoaderOptions().batch_size(8).num_workers(2).seed(1));
  CHECK(drop.batches_per_epoch() == 4);
  auto a = run_epoch(drop, 0);
  REQUIRE(a.size() == 4);
  std::set<int64_t> seen;
  for (auto& b : a)
    for (auto i : b.indices.to_vector<int64_t>()) seen.insert(i);
  CHECK(seen.size() == 32);

  Loader keep(ds, {ViewConfig::weak(4)}, LoaderOptions().batch_size(8).drop_last(false).num_workers(2).seed(1));
  CHECK(keep.batches_per_epoch() == 5);
  auto b = run_epoch(keep, 0);
  REQUIRE(b.size() == 5);
  CHECK(b[4].views[0].shape() == Shape{5, 3, 4, 4});
  CHECK(b[4].labels.shape() == Shape{5});
  seen.clear();
  for (auto& x : b)
    for (auto i : x.indices.to_vector<int64_t>()) seen.insert(i);
  CHECK(seen.size() == 37);
  // A second epoch after a partial batch reallocates full-size buffers.
  auto b2 = run_epoch(keep, 1);
  CHECK(b2[0].views[0].shape() == Shape{8, 3, 4, 4});
}

TEST_CASE("each epoch is reshuffled; the same epoch and seed give the same order; shuffle off is in order") {
  auto ds = synthetic(50);
  Loader l(ds, {ViewConfig::weak(4)}, LoaderOptions().batch_size(10).num_workers(2).seed(3));
  auto o0 = l.epoch_order(0), o1 = l.epoch_order(1);
  CHECK(o0 != o1);
  CHECK(o0 == l.epoch_order(0));
  auto sorted = o0;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 50; ++i) CHECK(sorted[i] == i);
  auto e0 = run_epoch(l, 0), e1 = run_epoch(l, 1);
  std::vector<int64_t> got0, got1;
  for (auto& b : e0)
    for (auto i : b.indices.to_vector<int64_t>()) got0.push_back(i);
  for (auto& b : e1)
    for (auto i : b.indices.to_vector<int64_t>()) got1.push_back(i);
  CHECK(got0 == o0);
  CHECK(got1 == o1);
  // The same sample's augmentation differs between epochs.
  Loader fixed(ds, {ViewConfig::weak(4)}, LoaderOptions().batch_size(10).shuffle(false).num_workers(1).seed(3));
  auto f0 = run_epoch(fixed, 0), f1 = run_epoch(fixed, 1);
  CHECK(f0[0].indices.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(f0[0].views[0].to_vector<float>() != f1[0].views[0].to_vector<float>());
}

TEST_CASE("batches kept by the caller are not overwritten by later batches") {
  auto ds = synthetic(64);
  Loader l(ds, {ViewConfig::strong(6)}, LoaderOptions().batch_size(4).num_workers(2).prefetch(2).seed(5));
  auto kept = run_epoch(l, 0);  // 16 batches through a ring of 2 slots
  REQUIRE(kept.size() == 16);
  std::set<const void*> buffers;
  for (auto& b : kept) {
    buffers.insert(b.views[0].raw_data());
    auto idx = b.indices.to_vector<int64_t>();
    for (size_t i = 0; i < idx.size(); ++i) {
      std::vector<float> want(3 * 36);
      Generator g = view_generator(5, 0, idx[i], 0);
      apply_view(ds->image(idx[i]), ViewConfig::strong(6), g, want.data());
      const float* got = b.views[0].data<float>() + i * 3 * 36;
      REQUIRE(std::vector<float>(got, got + 3 * 36) == want);
    }
  }
  CHECK(buffers.size() == 16);
  // When the caller drops each batch, the ring's buffers are reused.
  l.start_epoch(1);
  std::set<const void*> reused;
  while (auto b = l.next()) reused.insert(b->views[0].raw_data());
  CHECK(reused.size() <= 4);
}

TEST_CASE("pin_memory gives the same batches; without a CUDA device the buffers are ordinary memory") {
  auto ds = synthetic(45);
  auto opts = LoaderOptions().batch_size(8).num_workers(2).prefetch(2).seed(11).drop_last(false);
  CHECK_FALSE(opts.pin_memory_);  // off unless asked for (the trainer asks when it trains on CUDA)
  Loader plain(ds, two_views(), opts);
  Loader pinned(ds, two_views(), LoaderOptions(opts).pin_memory(true));
  for (int64_t epoch : {0, 1}) {
    plain.start_epoch(epoch);
    pinned.start_epoch(epoch);
    int64_t n = 0;
    // Batches dropped right away, so the ring's slots are reused (the fenced path).
    while (auto a = plain.next()) {
      auto b = pinned.next();
      REQUIRE(b.has_value());
      ++n;
      CHECK(a->indices.to_vector<int64_t>() == b->indices.to_vector<int64_t>());
      CHECK(a->labels.to_vector<int64_t>() == b->labels.to_vector<int64_t>());
      REQUIRE(b->views.size() == 2);
      for (size_t v = 0; v < 2; ++v) {
        CHECK(a->views[v].shape() == b->views[v].shape());
        CHECK(a->views[v].to_vector<float>() == b->views[v].to_vector<float>());
        if (!cuda_available()) CHECK_FALSE(b->views[v].is_pinned());
      }
      if (!cuda_available()) CHECK_FALSE(b->labels.is_pinned());
    }
    CHECK_FALSE(pinned.next().has_value());
    CHECK(n == 6);
  }
}

TEST_CASE("restarting an epoch midway, errors from workers, bad options") {
  auto ds = synthetic(40);
  Loader l(ds, {ViewConfig::weak(4)}, LoaderOptions().batch_size(4).num_workers(3).seed(2));
  l.start_epoch(0);
  REQUIRE(l.next().has_value());
  auto full = run_epoch(l, 1);  // abandons epoch 0 while workers may be mid-batch
  CHECK(full.size() == 10);

  Loader bad(std::make_shared<FailingDataset>(ds), {ViewConfig::weak(4)},
             LoaderOptions().batch_size(4).shuffle(false).num_workers(2));
  bad.start_epoch(0);
  CHECK(bad.next().has_value());  // samples 0..3
  RESA_CHECK_THROWS_WITH_SUBSTR(bad.next(), "sample 5 is broken");
  CHECK(bad.next().has_value());  // the loader goes on after an error

  Loader unstarted(ds, {ViewConfig::weak(4)}, LoaderOptions().batch_size(4).num_workers(1));
  RESA_CHECK_THROWS_WITH_SUBSTR(unstarted.next(), "start_epoch");
  RESA_CHECK_THROWS_WITH_SUBSTR(Loader(ds, {ViewConfig::weak(4)}, LoaderOptions().batch_size(0)), "batch size");
  RESA_CHECK_THROWS_WITH_SUBSTR(Loader(ds, {ViewConfig::weak(4).normalize({0.5f}, {0.5f})}, LoaderOptions()),
                                "normalization has 1 channels");
}
