#pragma once
// Data-parallel training over a dist::Communicator (core/dist/communicator.h), the way PyTorch's
// DistributedDataParallel does it: replicas start from rank 0's state, every rank trains on its own
// shard, gradients are averaged in buckets whose all-reduce starts as soon as their last gradient is
// final in backward (overlapping the rest of backward) and are waited for before the optimizer step
// reads them, and a cheap check at every epoch end turns a silent divergence of the replicas into
// an error naming the first tensor that differs.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "apps/runner/run_config.h"
#include "core/dist/communicator.h"
#include "core/optim/param_store.h"
#include "layers/module.h"
#include "layers/training_method.h"

namespace trim {

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

  GradientReducer(ParamStore& store, dist::Communicator& comm, const DistributedConfig& config);
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
  dist::Communicator& comm_;
  bool overlap_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;  // per slot
  std::vector<int64_t> pending_;   // per bucket: slots whose gradient is not final yet
  std::vector<std::unique_ptr<dist::Work>> works_;
  size_t next_ = 0;                // the next bucket to start
  bool in_backward_ = false;
  int64_t backward_ = 0;           // backward passes so far (names operations in errors)
  double exposed_ = 0.0;
};

// Overwrites this rank's parameters, master copies, optimizer/method state arenas and model
// buffers with rank 0's (at the start of a run, fresh or resumed).
void broadcast_from_rank0(dist::Communicator& comm, Module& model, ParamStore& store);
// Overwrites the model's buffers (batch-norm running statistics) with rank 0's, as DDP does before
// every forward pass: batch statistics stay per rank, the running ones are rank 0's.
void broadcast_buffers(dist::Communicator& comm, Module& model);

// One 64-bit hash per tensor of a replica's state: parameters, master copies, every state arena
// of the store (momentum, masks, ...), the method's tensors and the model's buffers.
struct ReplicaDigest {
  std::vector<std::string> names;
  std::vector<uint64_t> hashes;
  uint64_t combined = 0;
};
ReplicaDigest replica_digest(const ParamStore& store, const Module& model, const TrainingMethod& method);
// All-gathers the digests; throws trim::Error naming the first tensor that differs between ranks
// (and `where`, e.g. "end of epoch 3") when the replicas are not bit-identical.
void check_replicas(dist::Communicator& comm, const ParamStore& store, const Module& model,
                    const TrainingMethod& method, const std::string& where);
std::string hex64(uint64_t v);

// SIGTERM (what a launcher or a batch system sends before killing a job): after the handler is
// installed the signal only sets a flag, which the training loop reads between steps.
void install_termination_handler();
bool termination_requested();
void request_termination();        // what the handler does
void clear_termination_request();  // forgets a request (tests that resume in the same process)

}  // namespace trim
