#pragma once
// GradientReducer: data-parallel gradient averaging over a Communicator, the way PyTorch's
// DistributedDataParallel does it: gradients are averaged in buckets whose all-reduce starts as
// soon as their last gradient is final in backward (overlapping the rest of backward) and are
// waited for before the optimizer step reads them. It needs only the parameter store.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/comm/communicator.h"
#include "core/optim/param_store.h"

namespace trim::comm {

// How gradients are bucketed (the manifest's "distributed" section).
struct ReducerOptions {
  double bucket_mb = 25.0;       // gradient bucket size (DDP's bucket_cap_mb)
  double first_bucket_mb = 1.0;  // the first bucket (the last parameters) small, so its reduce starts early
  bool overlap = true;           // false: one plain all-reduce per bucket after backward
};

// Averages the gradients of `store` over the communicator's ranks, bucket by bucket. Installs the
// store's gradient-ready and backward-done hooks (removed by the destructor): a bucket is a
// contiguous range of slots in reverse parameter order, started (in bucket order, the same on every
// rank) when its last gradient is ready; ParamStore::finish_backward, which every optimizer step
// calls first, returns only once every bucket is averaged (on CUDA: once the compute stream is
// ordered after them), so clipping and the step see averaged gradients.
class GradientReducer {
 public:
  struct Bucket {
    size_t first_slot = 0, end_slot = 0;  // slots [first_slot, end_slot)
    int64_t offset = 0, count = 0;        // elements of the gradient arena, padding between slots included
  };

  GradientReducer(ParamStore& store, Communicator& comm, const ReducerOptions& options);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // In launch order: buckets[0] holds the last parameters.
  const std::vector<Bucket>& buckets() const { return buckets_; }
  // Host seconds spent in communication that backward did not hide (starting and waiting for the
  // all-reduces in finish_backward; with overlap off, all of it), since the last call.
  double take_exposed_seconds();

 private:
  void ready(size_t slot);
  void done();
  void launch_ready();

  ParamStore& store_;
  Communicator& comm_;
  bool overlap_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;  // per slot
  std::vector<int64_t> pending_;   // per bucket: slots whose gradient is not final yet
  std::vector<std::unique_ptr<Work>> works_;
  size_t next_ = 0;                // the next bucket to start
  bool in_backward_ = false;
  int64_t backward_ = 0;           // backward passes so far (names operations in errors)
  double exposed_ = 0.0;
};

}  // namespace trim::comm
