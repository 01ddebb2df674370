#include "apps/runner/train_metrics.h"

namespace trim {

MetricsAccumulator::MetricsAccumulator(Device device)
    : loss_sum_(Tensor::zeros(Shape{}, DType::f32, device)), correct_(Tensor::zeros(Shape{}, DType::i32, device)) {}

void MetricsAccumulator::fold(MetricTotals& totals, comm::Communicator& comm) {
  double sums[3] = {double(loss_sum_.item()), double(int64_t(correct_.item())), double(seen_here_)};
  if (comm.world() > 1) comm.all_reduce_host(sums, comm::ReduceOp::sum, "reducing the training metrics");
  totals.loss_sum += sums[0];
  totals.correct += int64_t(sums[1]);
  totals.seen += int64_t(sums[2]);
  seen_here_ = 0;
  loss_sum_.zero_();
  correct_.zero_();
}

MetricTotals MetricsAccumulator::peek(const MetricTotals& totals) const {
  return {totals.loss_sum + loss_sum_.item(), totals.correct + int64_t(correct_.item()), totals.seen + seen_here_};
}

}  // namespace trim
