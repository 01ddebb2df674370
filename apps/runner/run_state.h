#pragma once
// Where a run stands, as a checkpoint's metadata records it: plain values, no tensors. Separate from
// checkpoint.h so that the metadata reader (every key a hostile file could hold) can be fuzzed on
// its own (test/fuzz/targets/fuzz_checkpoint_meta.cpp).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace trim {

// The job's sums over the examples of an epoch trained so far (every rank's).
struct MetricTotals {
  double loss_sum = 0.0;  // the loss times the examples of each batch
  int64_t correct = 0;    // examples the model got right (classification; 0 for other tasks)
  int64_t seen = 0;       // examples
};

// Each rank's metric sums not yet folded into the totals (the device accumulators), recorded by a
// mid-epoch checkpoint so that the resumed run adds in the order of an uninterrupted one: the
// float loss sum as the f32 it is, exactly. Empty at an epoch's end.
struct PendingSums {
  std::vector<double> loss;  // per rank: the f32 sum, widened
  std::vector<int64_t> correct, seen;
  bool empty() const { return loss.empty(); }
};

struct TrainProgress {
  int64_t round = 0;      // the round in progress (or the next to start)
  int64_t epoch = 0;      // the epoch of that round in progress (or the next to start)
  int64_t batch = 0;      // batches of `epoch` already trained
  int64_t step = 0;       // optimizer steps so far, over all rounds
  MetricTotals metrics;   // running train metrics of `epoch` (the job's sums, folded at epoch ends)
  PendingSums pending;    // the ranks' sums since the last fold (mid-epoch checkpoints)
  double seconds = 0.0;   // training time so far, over all sessions
};

// How the run that wrote a checkpoint divided its data: ranks, and examples per step over all of
// them (0: unknown, a checkpoint from before these keys).
struct DataParallelShape {
  int64_t world_size = 1;
  int64_t global_batch = 0;
};

// The training data a run used: the manifest's data.dataset and data.root, the examples it trains
// on (after data.train_limit) and dataset_fingerprint (data/datasets.h) of them.
struct DataIdentity {
  std::string kind, root;
  int64_t examples = 0;
  std::string fingerprint;  // 16 hex digits
  bool known() const { return !kind.empty(); }
};

// A checkpoint's metadata, read and checked for form.
struct CheckpointMeta {
  TrainProgress progress;
  uint64_t rng_seed = 0, rng_offset = 0;
  std::string manifest;       // the manifest it was written with
  nlohmann::json method;      // the method's JSON state (null when it has none)
  std::string method_name;
  DataParallelShape shape;    // "trim.world_size", "trim.global_batch" (absent: 1 rank, unknown batch)
  DataIdentity data;          // "trim.data" (absent: unknown, a checkpoint from before the key)
  std::vector<int64_t> round_epochs;  // "trim.round_epochs": the epochs of each round as planned (absent: unknown)
};

// The metadata save_checkpoint writes besides the method's: "trim.format" = "1", the progress
// fields as "trim.<field>" (and "trim.pending" when not empty), the generator as "trim.rng.seed" /
// "trim.rng.offset", "trim.manifest", "trim.method.name", "trim.method", "trim.world_size",
// "trim.global_batch", "trim.data" and "trim.round_epochs".
std::map<std::string, std::string> checkpoint_metadata(const CheckpointMeta& meta);

// Reads the metadata of checkpoint `path`: the format, integers in range, finite non-negative sums,
// correct <= seen, valid JSON. Throws one trim::Error naming the file and the key.
CheckpointMeta parse_checkpoint_metadata(const std::string& path, const std::map<std::string, std::string>& metadata);

// What the run being resumed allows; a checkpoint whose progress falls outside it is refused.
struct ResumeBounds {
  std::string method_name;         // the run's training method (TrainingMethod::name)
  int64_t rounds = 1;
  std::vector<int64_t> epochs;     // per round
  int64_t batches_per_epoch = 0;   // of the training loader
  int64_t examples_per_epoch = 0;  // of the training loader
};

// Checks `ck` (read from `path`) against `bounds`: the method that wrote it, then its progress:
// round in [0, rounds] (rounds itself only for a finished run, at epoch 0 and batch 0), epoch and
// batch inside their round, seen (pending sums included) within an epoch, and a step count that
// cannot overflow over the steps still to come. Throws trim::Error naming the file and the key.
void check_progress(const std::string& path, const CheckpointMeta& ck, const ResumeBounds& bounds);

// "data.root \"a\" -> \"b\", examples 2048 -> 512, fingerprint 1f.. -> 3c.." for what differs
// between the checkpoint's data `was` and the run's `now`; empty when they agree.
std::string describe_data_change(const DataIdentity& was, const DataIdentity& now);

}  // namespace trim
