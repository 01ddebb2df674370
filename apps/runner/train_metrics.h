#pragma once
// The training metrics of an epoch, as ggml's ggml_opt_result: every step adds to sums on the
// device (no host sync); a fold reads them once, reduces them over the ranks and adds them to the
// job's totals, which checkpoints keep and the epoch's metrics.jsonl line reports.
#include <cstdint>

#include "apps/runner/run_state.h"
#include "core/comm/communicator.h"
#include "core/tensor.h"

namespace trim {

class MetricsAccumulator {
 public:
  explicit MetricsAccumulator(Device device);

  // The device sums a Task adds a batch to (f32 loss sum, i32 count of correct examples).
  Tensor& loss_sum() { return loss_sum_; }
  Tensor& correct() { return correct_; }
  // Counts this rank's examples of a trained batch.
  void add_examples(int64_t n) { seen_here_ += n; }

  // Reads the device sums (one host sync), sums them over the ranks of `comm`, adds them to
  // `totals` and restarts them. Folding only at epoch ends (a mid-epoch checkpoint records the
  // unfolded sums instead: pending) keeps the order of additions of an interrupted and resumed
  // run the same as an uninterrupted one's.
  void fold(MetricTotals& totals, comm::Communicator& comm);
  // Every rank's unfolded sums, gathered on every rank (one small all-reduce), left as they are.
  PendingSums pending(comm::Communicator& comm) const;
  // Sets this rank's sums to its entry of `p` (written by a job of as many ranks).
  void restore(const PendingSums& p, int64_t rank);
  // `totals` plus this rank's sums not yet folded (a host read; for progress lines).
  MetricTotals peek(const MetricTotals& totals) const;

 private:
  Tensor loss_sum_, correct_;
  int64_t seen_here_ = 0;  // this rank's examples since the last fold
};

}  // namespace trim
