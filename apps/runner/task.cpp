#include "apps/runner/task.h"

#include <fmt/format.h>

#include "core/ops/ops.h"

namespace trim {

TaskStep Classification::forward(Module& model, const Batch& batch) const {
  Tensor logits = model(affine_u8(batch.images, norm_));
  return {logits, cross_entropy(logits, batch.labels, label_smoothing_)};
}

void Classification::accumulate(const TaskStep& step, const Batch& batch, MetricsAccumulator& acc) const {
  add_(acc.loss_sum(), step.loss, float(batch.labels.numel()));
  count_correct(step.output, batch.labels, acc.correct());
  acc.add_examples(batch.labels.numel());
}

void Classification::report(const MetricTotals& totals, nlohmann::json& line) const {
  line["train_loss"] = totals.loss_sum / double(totals.seen);
  line["train_accuracy"] = double(totals.correct) / double(totals.seen);
}

std::string Classification::describe(const MetricTotals& totals, const std::string& sep) const {
  double seen = double(totals.seen);
  return fmt::format("loss {:.4f}{}acc {:.4f}", totals.loss_sum / seen, sep, double(totals.correct) / seen);
}

Eval Classification::evaluate(Module& model, DataLoader& loader, int64_t dataset_size, comm::Communicator& comm) const {
  return evaluate_sharded(model, loader, norm_, device_, dataset_size, comm);
}

}  // namespace trim
