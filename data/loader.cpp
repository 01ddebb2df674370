#include "data/loader.h"

#include <algorithm>
#include <numeric>
#include <system_error>

#include "core/error.h"
#include "core/random/generator.h"

namespace trim {
namespace {

void validate(const Dataset* data, const LoaderOptions& o) {
  if (!data) throw Error("DataLoader: no dataset given");
  if (o.batch_size < 1) throw Error(cat("DataLoader: batch_size must be at least 1, got ", o.batch_size));
  if (o.world < 1) throw Error(cat("DataLoader: world (number of ranks) must be at least 1, got ", o.world));
  if (o.rank < 0 || o.rank >= o.world)
    throw Error(cat("DataLoader: rank must be in 0..", o.world - 1, " for world ", o.world, ", got ", o.rank));
  if (o.workers < 1) throw Error(cat("DataLoader: workers must be at least 1, got ", o.workers));
  if (o.prefetch < 1) throw Error(cat("DataLoader: prefetch must be at least 1, got ", o.prefetch));
  if (o.device.is_cuda() && !built_with_cuda())
    throw Error(cat("DataLoader: device ", o.device.str(), " requested, but this build of trim has no CUDA backend"));
  const Shape item = data->item_shape();
  if (item.ndim() >= Shape::kMaxDims || item.numel() < 1)
    throw Error(cat("DataLoader: the dataset's item shape ", item.str(),
                    " cannot be batched (it needs at least one element and at most 4 dimensions)"));
  if (data->num_classes() < 1)
    throw Error(cat("DataLoader: the dataset has ", data->num_classes(), " classes, expected at least 1"));
  if (data->size() < o.world)
    throw Error(cat("DataLoader: the dataset has ", data->size(), " examples, fewer than the ", o.world,
                    " ranks that share it"));
}

}  // namespace

DataLoader::DataLoader(std::shared_ptr<const Dataset> data, LoaderOptions options)
    : data_(std::move(data)), opt_(options) {
  validate(data_.get(), opt_);
  per_rank_ = (data_->size() + opt_.world - 1) / opt_.world;
  // Without (per_rank + batch_size - 1), which overflows for a huge batch_size.
  batches_ = per_rank_ / opt_.batch_size + (!opt_.drop_last && per_rank_ % opt_.batch_size != 0 ? 1 : 0);
  examples_ = opt_.drop_last ? batches_ * opt_.batch_size : per_rank_;
  if (batches_ == 0)
    throw Error(cat("DataLoader: drop_last with batch_size ", opt_.batch_size, " leaves no batch of the ", per_rank_,
                    " examples per rank"));
  try {
    for (int i = 0; i < opt_.workers; ++i) workers_.emplace_back([this] { worker_main(); });
  } catch (const std::system_error& e) {
    const size_t started = workers_.size();
    stop_workers();  // the destructor does not run when the constructor throws
    throw Error(cat("DataLoader: cannot start ", opt_.workers, " worker threads (", started,
                    " started, then the system refused: ", e.what(), "); use fewer workers"));
  } catch (...) {
    stop_workers();  // the destructor does not run when the constructor throws
    throw;
  }
}

DataLoader::~DataLoader() { stop_workers(); }

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  const int64_t n = data_->size();
  std::vector<int64_t> order;
  if (opt_.shuffle) {
    order = random_permutation(n, opt_.seed, uint64_t(epoch));
  } else {
    order.resize(size_t(n));
    std::iota(order.begin(), order.end(), int64_t(0));
  }
  // Position p of the padded order of per_rank_ * world elements is order[p % n]: the padding
  // (fewer than world <= n elements) wraps around to the start.
  std::vector<int64_t> mine(static_cast<size_t>(per_rank_));
  for (int64_t j = 0; j < per_rank_; ++j) mine[size_t(j)] = order[size_t((opt_.rank + j * opt_.world) % n)];
  return mine;
}

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  if (epoch < 0) throw Error(cat("DataLoader::start_epoch: epoch must be >= 0, got ", epoch));
  if (first_batch < 0 || first_batch > batches_)
    throw Error(cat("DataLoader::start_epoch: first_batch must be in 0..", batches_, " (batches per epoch), got ",
                    first_batch));
  auto order = std::make_shared<const std::vector<int64_t>>(epoch_order(epoch));
  std::map<int64_t, Slot> abandoned;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;
    started_ = true;
    epoch_ = epoch;
    order_ = std::move(order);
    next_claim_ = due_ = first_batch;
    end_ = batches_;
    error_ = nullptr;
    abandoned.swap(ready_);
  }
  work_cv_.notify_all();
}  // the abandoned batches are freed here, outside the lock

bool DataLoader::claimable() const {
  return started_ && next_claim_ < end_ && next_claim_ < due_ + opt_.prefetch;
}

void DataLoader::worker_main() {
  BatchAssembler assembler(*data_, opt_.device, opt_.batch_size);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stop_ || claimable(); });
    if (stop_) return;
    const int64_t b = next_claim_++;
    const uint64_t generation = generation_;
    const int64_t epoch = epoch_;
    const std::shared_ptr<const std::vector<int64_t>> order = order_;
    lock.unlock();

    // Everything thrown here becomes the batch's error: a worker never lets an exception escape
    // (that would std::terminate), and next() rethrows it when the batch is due.
    Slot slot;
    try {
      const int64_t begin = b * opt_.batch_size;
      const int64_t count = std::min(opt_.batch_size, int64_t(order->size()) - begin);
      slot.batch = assembler.assemble(order->data() + begin, count, b, opt_.seed, epoch);
      // The copy stream's work on the batch is finished (assemble waited for it); from now on its
      // memory is used, and freed, in the compute stream's order. A batch dropped below then
      // needs nothing from this thread's stream, which dies with the worker.
      slot.batch->images.adopt_compute_stream();
      slot.batch->labels.adopt_compute_stream();
    } catch (const std::exception& e) {
      slot.error = std::make_exception_ptr(Error(cat("data loader, epoch ", epoch, " batch ", b, ": ", e.what())));
    } catch (...) {
      slot.error =
          std::make_exception_ptr(Error(cat("data loader, epoch ", epoch, " batch ", b, ": unknown exception")));
    }

    lock.lock();
    if (generation != generation_) {  // its epoch was restarted: the batch is dropped
      lock.unlock();
      slot = Slot{};  // freed outside the lock
      lock.lock();
      continue;
    }
    ready_.emplace(b, std::move(slot));
    ready_cv_.notify_one();
  }
}

std::optional<Batch> DataLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!started_) throw Error("DataLoader::next() called before start_epoch()");
  if (error_) std::rethrow_exception(error_);
  if (due_ >= end_) return std::nullopt;
  // Batch due_ is either claimed (so being assembled, or finished) or claimable now, so a worker
  // is bound to deliver it.
  ready_cv_.wait(lock, [this] { return ready_.count(due_) > 0; });
  Slot slot = std::move(ready_.extract(due_).mapped());
  ++due_;
  if (slot.error) {
    error_ = slot.error;
    end_ = std::min(end_, next_claim_);  // no further claims this epoch
    std::rethrow_exception(error_);
  }
  work_cv_.notify_one();  // one more batch fits in the prefetch window
  return std::move(slot.batch);
}

}  // namespace trim
