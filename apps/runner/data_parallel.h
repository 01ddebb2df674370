#pragma once
// What a data-parallel run needs beyond gradient averaging (comm::GradientReducer,
// core/comm/gradient_reducer.h), the way PyTorch's DistributedDataParallel does it: replicas start
// from rank 0's state and share rank 0's buffers, and a cheap check at every epoch end turns a
// silent divergence of the replicas into an error naming the first tensor that differs.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/comm/communicator.h"
#include "core/optim/param_store.h"
#include "layers/module.h"
#include "pruning/training_method.h"

namespace trim {

// Overwrites this rank's parameters, master copies, optimizer/method state arenas and model
// buffers with rank 0's (at the start of a run, fresh or resumed).
void broadcast_from_rank0(comm::Communicator& comm, Module& model, ParamStore& store);
// Overwrites the model's buffers (batch-norm running statistics) with rank 0's, as DDP does before
// every forward pass: batch statistics stay per rank, the running ones are rank 0's.
void broadcast_buffers(comm::Communicator& comm, Module& model);

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
void check_replicas(comm::Communicator& comm, const ParamStore& store, const Module& model,
                    const TrainingMethod& method, const std::string& where);
std::string hex64(uint64_t v);

// Replaces each of `values` by its maximum over the ranks (every rank then reports the slowest
// rank's times). Bit-exact: the values travel as their 64-bit patterns.
void max_over_ranks(comm::Communicator& comm, std::span<double> values, const std::string& what);

}  // namespace trim
