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

PendingSums MetricsAccumulator::pending(comm::Communicator& comm) const {
  const int64_t world = comm.world(), rank = comm.rank();
  // An all-gather through a sum: each rank fills its own slots, the others stay 0 (exact).
  std::vector<double> slots(size_t(3 * world), 0.0);
  slots[size_t(3 * rank)] = double(loss_sum_.item());
  slots[size_t(3 * rank + 1)] = double(int64_t(correct_.item()));
  slots[size_t(3 * rank + 2)] = double(seen_here_);
  if (world > 1) comm.all_reduce_host(slots, comm::ReduceOp::sum, "gathering the training metrics for a checkpoint");
  PendingSums p;
  for (int64_t k = 0; k < world; ++k) {
    p.loss.push_back(slots[size_t(3 * k)]);
    p.correct.push_back(int64_t(slots[size_t(3 * k + 1)]));
    p.seen.push_back(int64_t(slots[size_t(3 * k + 2)]));
  }
  return p;
}

void MetricsAccumulator::restore(const PendingSums& p, int64_t rank) {
  const size_t k = size_t(rank);
  loss_sum_.copy_(Tensor::from_vector<float>(Shape{}, {float(p.loss.at(k))}));
  correct_.copy_(Tensor::from_vector<int32_t>(Shape{}, {int32_t(p.correct.at(k))}));
  seen_here_ = p.seen.at(k);
}

MetricTotals MetricsAccumulator::peek(const MetricTotals& totals) const {
  return {totals.loss_sum + loss_sum_.item(), totals.correct + int64_t(correct_.item()), totals.seen + seen_here_};
}

}  // namespace trim
