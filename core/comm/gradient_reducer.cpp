#include "core/comm/gradient_reducer.h"

#include <fmt/format.h>

#include <chrono>

#include "core/error.h"

namespace trim::comm {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

// --- buckets ---------------------------------------------------------------------------------

GradientReducer::GradientReducer(ParamStore& store, Communicator& comm, const ReducerOptions& options)
    : store_(store), comm_(comm), overlap_(options.overlap) {
  const size_t n = store.size();
  TRIM_CHECK(n > 0, "gradient reducer: the parameter store is empty");
  bucket_of_.assign(n, 0);
  // Reverse parameter order: backward produces the last parameters' gradients first.
  size_t end = n;
  double bytes = 0.0;
  for (size_t k = n; k-- > 0;) {
    bytes += double(store.slot(k).numel) * 4.0;
    double cap = (buckets_.empty() ? options.first_bucket_mb : options.bucket_mb) * 1024.0 * 1024.0;
    if (bytes >= cap || k == 0) {
      Bucket b;
      b.first_slot = k;
      b.end_slot = end;
      b.offset = store.slot(k).offset;
      const ParamSlot& last = store.slot(end - 1);
      b.count = last.offset + last.numel - b.offset;
      for (size_t s = k; s < end; ++s) bucket_of_[s] = buckets_.size();
      buckets_.push_back(b);
      end = k;
      bytes = 0.0;
    }
  }
  for (const Bucket& b : buckets_) pending_.push_back(int64_t(b.end_slot - b.first_slot));
  works_.resize(buckets_.size());
  store_.on_grad_ready([this](size_t slot, int64_t, int64_t) { ready(slot); });
  store_.on_backward_done([this] { done(); });
}

GradientReducer::~GradientReducer() {
  store_.on_grad_ready(nullptr);
  store_.on_backward_done(nullptr);
}

double GradientReducer::take_exposed_seconds() {
  double s = exposed_;
  exposed_ = 0.0;
  return s;
}

void GradientReducer::launch_ready() {
  float* grads = store_.grads().data<float>();
  while (next_ < buckets_.size() && pending_[next_] == 0) {
    const Bucket& b = buckets_[next_];
    works_[next_] = comm_.all_reduce_async(
        grads + b.offset, b.count, ReduceOp::avg,
        fmt::format("the all-reduce of gradient bucket {} of {} in backward pass {}", next_ + 1, buckets_.size(),
                    backward_ + 1));
    ++next_;
  }
}

void GradientReducer::ready(size_t slot) {
  in_backward_ = true;
  int64_t& left = pending_.at(bucket_of_.at(slot));
  TRIM_CHECK(left > 0, fmt::format("gradient reducer: the gradient of '{}' was reported final twice in one backward "
                                   "pass (two backward passes before a step are not supported)",
                                   store_.slot(slot).param.name));
  --left;
  if (overlap_ && left == 0) launch_ready();
  comm_.progress();
}

void GradientReducer::done() {
  if (!in_backward_) return;  // finish_backward called again before the next backward
  Clock::time_point t0 = Clock::now();
  launch_ready();
  TRIM_CHECK(next_ == buckets_.size(), "gradient reducer: backward ended with gradients still pending");
  for (auto& w : works_) {
    w->wait();
    w.reset();
  }
  for (size_t b = 0; b < buckets_.size(); ++b) pending_[b] = int64_t(buckets_[b].end_slot - buckets_[b].first_slot);
  next_ = 0;
  in_backward_ = false;
  ++backward_;
  exposed_ += since(t0);
}

}  // namespace trim::comm
