// The threaded DataLoader: coverage, determinism, drop_last, rank sharding, resuming, shutdown and
// error propagation, on a synthetic dataset whose images encode their own index.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <thread>

#include "core/error.h"
#include "core/random/generator.h"
#include "data/loader.h"

using namespace trim;
using Catch::Matchers::Contains;

namespace {

constexpr int kClasses = 7;

// Example i is 8 bytes holding i (little-endian) with label i % 7. Optionally slow, and optionally
// failing at one index; records the largest index asked for.
class SyntheticDataset : public Dataset {
 public:
  explicit SyntheticDataset(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  Shape item_shape() const override { return Shape{1, 2, 4}; }
  int num_classes() const override { return kClasses; }
  int32_t get(int64_t i, uint8_t* dst, const ItemContext&) const override {
    int64_t seen = max_seen.load();
    while (i > seen && !max_seen.compare_exchange_weak(seen, i)) {
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (i == fail_at) {
      if (throw_std) throw std::runtime_error("plain failure at " + std::to_string(i));
      throw Error("synthetic failure at " + std::to_string(i));
    }
    std::memcpy(dst, &i, sizeof i);
    return int32_t(i % kClasses);
  }

  std::chrono::microseconds delay{0};
  int64_t fail_at = -1;
  bool throw_std = false;
  mutable std::atomic<int64_t> max_seen{-1};

 private:
  int64_t n_;
};

// A batch's example indices, checking shapes, dtypes, labels and the batch number on the way.
std::vector<int64_t> decode(const Batch& b, int64_t expected_index) {
  REQUIRE(b.index == expected_index);
  REQUIRE(b.images.dtype() == DType::u8);
  REQUIRE(b.labels.dtype() == DType::i32);
  REQUIRE(b.images.device() == Device::cpu());
  const int64_t n = b.images.size(0);
  REQUIRE(b.images.shape() == Shape{n, 1, 2, 4});
  REQUIRE(b.labels.shape() == Shape{n});
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    std::memcpy(&out[size_t(j)], b.images.data<uint8_t>() + 8 * j, 8);
    REQUIRE(b.labels.data<int32_t>()[j] == out[size_t(j)] % kClasses);
  }
  return out;
}

// The batches of one epoch (from first_batch on), each as its example indices.
std::vector<std::vector<int64_t>> run_epoch(DataLoader& loader, int64_t epoch, int64_t first_batch = 0) {
  loader.start_epoch(epoch, first_batch);
  std::vector<std::vector<int64_t>> batches;
  while (std::optional<Batch> b = loader.next()) batches.push_back(decode(*b, first_batch + int64_t(batches.size())));
  CHECK(!loader.next());  // stays finished
  return batches;
}

std::vector<int64_t> flatten(const std::vector<std::vector<int64_t>>& batches) {
  std::vector<int64_t> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

std::shared_ptr<SyntheticDataset> synthetic(int64_t n) { return std::make_shared<SyntheticDataset>(n); }

LoaderOptions options(int64_t batch, int workers = 2) {
  LoaderOptions o;
  o.batch_size = batch;
  o.workers = workers;
  o.seed = 42;
  return o;
}

}  // namespace

TEST_CASE("loader: every index once per shuffled epoch", "[data]") {
  DataLoader loader(synthetic(1000), options(64, 3));
  CHECK(loader.batches_per_epoch() == 16);
  for (int64_t epoch : {0, 1}) {
    std::vector<int64_t> all = flatten(run_epoch(loader, epoch));
    REQUIRE(all.size() == 1000);
    std::vector<int64_t> identity(1000);
    std::iota(identity.begin(), identity.end(), int64_t(0));
    CHECK(all != identity);  // shuffled
    std::sort(all.begin(), all.end());
    CHECK(all == identity);
  }
}

TEST_CASE("loader: order is a function of (seed, epoch) only", "[data]") {
  auto data = synthetic(500);
  DataLoader one(data, options(32, 1)), three(data, options(32, 3)), again(data, options(32, 3));
  auto a = run_epoch(one, 3);
  CHECK(a == run_epoch(three, 3));
  CHECK(a == run_epoch(again, 3));
  CHECK(flatten(a) == random_permutation(500, 42, 3));
  CHECK(flatten(a) != flatten(run_epoch(three, 4)));

  LoaderOptions plain = options(32);
  plain.shuffle = false;
  DataLoader ordered(data, plain);
  std::vector<int64_t> identity(500);
  std::iota(identity.begin(), identity.end(), int64_t(0));
  CHECK(flatten(run_epoch(ordered, 5)) == identity);
}

TEST_CASE("loader: drop_last and the partial last batch", "[data]") {
  auto data = synthetic(1000);
  DataLoader keep(data, options(64));
  CHECK(keep.batches_per_epoch() == 16);
  CHECK(keep.examples_per_epoch() == 1000);
  auto kept = run_epoch(keep, 0);
  REQUIRE(kept.size() == 16);
  CHECK(kept.back().size() == 40);

  LoaderOptions o = options(64);
  o.drop_last = true;
  DataLoader drop(data, o);
  CHECK(drop.batches_per_epoch() == 15);
  CHECK(drop.examples_per_epoch() == 960);
  auto dropped = run_epoch(drop, 0);
  REQUIRE(dropped.size() == 15);
  for (const auto& b : dropped) CHECK(b.size() == 64);
  const std::vector<int64_t> all = flatten(kept);
  CHECK(flatten(dropped) == std::vector<int64_t>(all.begin(), all.begin() + 960));
}

TEST_CASE("loader: rank sharding pads by wrapping around", "[data]") {
  auto data = synthetic(1000);
  const std::vector<int64_t> order = random_permutation(1000, 42, 2);
  std::vector<int> seen(1000, 0);
  for (int rank = 0; rank < 3; ++rank) {
    LoaderOptions o = options(50);
    o.rank = rank;
    o.world = 3;
    DataLoader loader(data, o);
    CHECK(loader.examples_per_epoch() == 334);
    CHECK(loader.batches_per_epoch() == 7);
    std::vector<int64_t> mine = flatten(run_epoch(loader, 2));
    REQUIRE(mine.size() == 334);
    for (size_t j = 0; j < mine.size(); ++j) {
      CHECK(mine[j] == order[(size_t(rank) + 3 * j) % 1000]);
      ++seen[size_t(mine[j])];
    }
  }
  // 1002 slots for 1000 examples: the first two of the epoch order are seen twice, the rest once.
  for (int64_t i = 0; i < 1000; ++i) CHECK(seen[size_t(i)] == (i == order[0] || i == order[1] ? 2 : 1));
}

TEST_CASE("loader: start_epoch(e, k) resumes at batch k", "[data]") {
  auto data = synthetic(700);
  DataLoader loader(data, options(64, 3));
  auto full = run_epoch(loader, 6);
  for (int64_t k : {int64_t(0), int64_t(1), int64_t(5), int64_t(10), loader.batches_per_epoch()}) {
    DataLoader resumed(data, options(64, 2));
    auto rest = run_epoch(resumed, 6, k);
    CHECK(rest == std::vector<std::vector<int64_t>>(full.begin() + k, full.end()));
  }
  CHECK_THROWS_WITH(loader.start_epoch(6, 12), Contains("first_batch must be in 0..11"));
  CHECK_THROWS_WITH(loader.start_epoch(-1), Contains("epoch must be >= 0"));
}

TEST_CASE("loader: restarting and destroying mid-epoch do not hang", "[data]") {
  auto data = synthetic(400);
  data->delay = std::chrono::microseconds(200);
  DataLoader reference(synthetic(400), options(16, 2));
  const auto epoch1 = run_epoch(reference, 1);

  DataLoader loader(data, options(16, 3));
  loader.start_epoch(0);
  REQUIRE(loader.next());
  REQUIRE(loader.next());
  CHECK(run_epoch(loader, 1) == epoch1);  // nothing of epoch 0 leaks into epoch 1

  { DataLoader never_started(data, options(16, 3)); }
  {
    DataLoader busy(data, options(16, 3));
    busy.start_epoch(0);
    REQUIRE(busy.next());
  }
  {
    DataLoader just_started(data, options(16, 3));
    just_started.start_epoch(0);
  }
  SUCCEED("all loaders shut down");
}

TEST_CASE("loader: workers stay within the prefetch window", "[data]") {
  auto data = synthetic(100);
  LoaderOptions o = options(1, 4);
  o.shuffle = false;
  o.prefetch = 2;
  DataLoader loader(data, o);
  // Waits (up to 5 s, for a loaded machine) until the workers reach `index`, then gives them time
  // to overshoot, which they must not.
  auto settles_at = [&](int64_t index) {
    for (int i = 0; i < 500 && data->max_seen.load() < index; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return data->max_seen.load() == index;
  };
  loader.start_epoch(0);
  CHECK(settles_at(1));  // batches 0 and 1 only
  REQUIRE(loader.next());
  CHECK(settles_at(2));
}

TEST_CASE("loader: a dataset error is rethrown by next()", "[data]") {
  auto data = synthetic(100);
  data->fail_at = 37;
  LoaderOptions o = options(10, 3);
  o.shuffle = false;
  DataLoader loader(data, o);
  loader.start_epoch(0);
  for (int b = 0; b < 3; ++b) REQUIRE(loader.next());
  CHECK_THROWS_AS(loader.next(), Error);
  CHECK_THROWS_WITH(loader.next(), Contains("synthetic failure at 37") && Contains("example 37") &&
                                       Contains("epoch 0 batch 3"));
  CHECK(run_epoch(loader, 0, 4).size() == 6);  // the rest of the epoch still loads

  data->throw_std = true;  // exceptions other than trim::Error arrive as trim::Error too
  loader.start_epoch(0, 3);
  CHECK_THROWS_WITH(loader.next(), Contains("plain failure at 37"));
}

TEST_CASE("loader: invalid options are refused", "[data]") {
  auto data = synthetic(10);
  auto refuse = [&](LoaderOptions o, const std::string& what) {
    CHECK_THROWS_WITH(DataLoader(data, o), Contains(what));
  };
  LoaderOptions o = options(4);
  o.batch_size = 0;
  refuse(o, "batch_size must be at least 1, got 0");
  o = options(4);
  o.rank = 3, o.world = 3;
  refuse(o, "rank must be in 0..2 for world 3, got 3");
  o = options(4);
  o.workers = 0;
  refuse(o, "workers must be at least 1");
  o = options(4);
  o.prefetch = 0;
  refuse(o, "prefetch must be at least 1");
  o = options(4);
  o.world = 11;
  refuse(o, "the dataset has 10 examples, fewer than the 11 ranks");
  o = options(11);
  o.drop_last = true;
  refuse(o, "leaves no batch");
  if (!built_with_cuda()) {
    o = options(4);
    o.device = Device::cuda(0);
    refuse(o, "no CUDA backend");
  }
  DataLoader loader(data, options(4));
  CHECK_THROWS_WITH(loader.next(), Contains("before start_epoch"));
}
