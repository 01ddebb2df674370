#pragma once
// Task: what a model is trained for, the loss to minimise and the metrics to count, so that the
// training loop (apps/runner/loop.h) knows neither. Classification of u8 images is the task of
// every app today; another task (regression, detection) is another subclass, the loop unchanged.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "apps/runner/evaluate.h"
#include "apps/runner/train_metrics.h"
#include "core/comm/communicator.h"
#include "core/kernels/params.h"
#include "data/batch.h"
#include "data/loader.h"
#include "layers/module.h"

namespace trim {

// One training batch through the model.
struct TaskStep {
  Tensor output;  // what the model returned
  Tensor loss;    // the scalar to minimise: the mean over the batch
};

class Task {
 public:
  virtual ~Task() = default;
  // Forward pass of a training batch and its loss.
  virtual TaskStep forward(Module& model, const Batch& batch) const = 0;
  // Adds the batch's metric sums to `acc` on the device (no host sync); called without autograd.
  virtual void accumulate(const TaskStep& step, const Batch& batch, MetricsAccumulator& acc) const = 0;
  // The epoch's training metrics for its metrics.jsonl line, from the job's totals.
  virtual void report(const MetricTotals& totals, nlohmann::json& line) const = 0;
  // The totals as a short text for the log ("loss 0.4123<sep>acc 0.8512").
  virtual std::string describe(const MetricTotals& totals, const std::string& sep) const = 0;
  // The model's loss and score (accuracy, 0..1) over a test set of `dataset_size` examples
  // sharded over the ranks of `comm`; every rank gets the whole set's.
  virtual Eval evaluate(Module& model, DataLoader& loader, int64_t dataset_size, comm::Communicator& comm) const = 0;
};

// Image classification: u8 images normalised per channel, cross-entropy (with label smoothing in
// training), accuracy. Reports "train_loss" and "train_accuracy".
class Classification final : public Task {
 public:
  Classification(const ChannelAffine& norm, float label_smoothing, Device device)
      : norm_(norm), label_smoothing_(label_smoothing), device_(device) {}
  TaskStep forward(Module& model, const Batch& batch) const override;
  void accumulate(const TaskStep& step, const Batch& batch, MetricsAccumulator& acc) const override;
  void report(const MetricTotals& totals, nlohmann::json& line) const override;
  std::string describe(const MetricTotals& totals, const std::string& sep) const override;
  Eval evaluate(Module& model, DataLoader& loader, int64_t dataset_size, comm::Communicator& comm) const override;

 private:
  ChannelAffine norm_;
  float label_smoothing_;
  Device device_;
};

}  // namespace trim
