#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/device.h"
#include "data/batch.h"
#include "data/dataset.h"

namespace trim {

struct LoaderOptions {
  int64_t batch_size = 128;
  // Order within an epoch: random_permutation(size, seed, epoch) when shuffling, else 0..n-1.
  bool shuffle = true;
  bool drop_last = false;  // drop this rank's last batch when it is partial
  uint64_t seed = 0;  // also the seed of the dataset's random augmentations (ItemContext)
  // Rank r of `world` takes every world-th element of the epoch order, starting at r. Each rank gets
  // ceil(n / world) examples; the order is padded by wrapping around to its start, so that all ranks
  // see equal counts (PyTorch's DistributedSampler).
  int rank = 0, world = 1;
  int workers = 2;   // threads assembling batches
  int prefetch = 4;  // batches assembled ahead of the consumer, at most (bounds memory)
  Device device = Device::cpu();  // where batches are delivered
};

// Delivers batches of a dataset, epoch by epoch, assembled by worker threads. The order of batches
// and of the examples in them is a function of (seed, epoch, rank, world) only, never of thread
// timing or the number of workers, so runs are reproducible and resumable mid-epoch.
//
// One consumer thread calls start_epoch() and next(). Workers take batch numbers in order, at most
// `prefetch` ahead of the batch next() will return, and next() hands them out in order.
class DataLoader {
 public:
  // Throws trim::Error for invalid options (batch_size < 1, rank outside [0, world), workers < 1,
  // prefetch < 1, a CUDA device in a CPU-only build), a dataset with fewer examples than ranks, or
  // drop_last with fewer examples per rank than one batch.
  DataLoader(std::shared_ptr<const Dataset> data, LoaderOptions options);
  // Stops and joins the workers, also mid-epoch (each finishes the batch it is assembling).
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t batches_per_epoch() const { return batches_; }
  int64_t examples_per_epoch() const { return examples_; }  // for this rank, after drop_last
  const LoaderOptions& options() const { return opt_; }

  // This rank's example indices for `epoch`, in delivery order (ceil(n / world) of them, before
  // drop_last). Batch k holds elements [k * batch_size, (k + 1) * batch_size).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

  // Starts (or restarts) epoch `epoch` >= 0 at batch first_batch in [0, batches_per_epoch()], for
  // resuming a run mid-epoch. Batches still in flight from before are discarded.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);

  // The next batch of the epoch, in order; nullopt after the last one. A failure while assembling
  // a batch (e.g. a dataset error) is rethrown here as trim::Error naming the epoch, batch and
  // example, when that batch is due; the epoch then ends, and further calls rethrow it until the
  // next start_epoch(). Throws when no epoch was started.
  std::optional<Batch> next();

 private:
  // A finished batch, or why it could not be made.
  struct Slot {
    std::optional<Batch> batch;
    std::exception_ptr error;
  };

  void worker_main();
  bool claimable() const;  // whether a worker may take batch next_claim_ now (mutex held)
  void stop_workers();

  const std::shared_ptr<const Dataset> data_;
  const LoaderOptions opt_;
  int64_t per_rank_ = 0;  // examples of this rank per epoch, before drop_last
  int64_t batches_ = 0;
  int64_t examples_ = 0;

  std::mutex mu_;
  std::condition_variable work_cv_;   // workers wait for a claimable batch or stop_
  std::condition_variable ready_cv_;  // next() waits for its batch
  // All below guarded by mu_. generation_ counts start_epoch() calls, so a worker can tell that the
  // batch it finished belongs to an abandoned epoch.
  bool stop_ = false;
  bool started_ = false;
  uint64_t generation_ = 0;
  int64_t epoch_ = 0;
  std::shared_ptr<const std::vector<int64_t>> order_;  // epoch_order(epoch_)
  int64_t next_claim_ = 0;  // the batch the next idle worker takes
  int64_t due_ = 0;         // the batch next() returns next
  int64_t end_ = 0;         // claims stop here (batches_, or earlier after a failure)
  std::map<int64_t, Slot> ready_;  // reorder buffer: finished batches not yet returned
  std::exception_ptr error_;       // the failure that ended this epoch

  std::vector<std::thread> workers_;
};

}  // namespace trim
