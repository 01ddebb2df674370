#include "apps/runner/graph_step.h"

#include "core/autograd/grad_mode.h"
#include "core/log.h"
#include "core/ops/precision.h"
#include "core/text.h"

namespace trim {

std::string run_graph_refusal(const Run& run, const TrainingMethod& method) {
  std::string why = graph_refusal(graph_request(run.device, method.name(), method.graph_safe(), run.comm->world()));
  if (why.empty() && !run.model->summary_metric_keys().empty())
    why = "the model counts its training passes on the host (a spiking network's firing rates), which a replay "
          "would not count";
  return why;
}

GraphStep::GraphStep(Run& run, const TrainingMethod& method, SgdBase& opt) : r_(run), opt_(opt) {
  graph_ = std::make_unique<StepGraph>(opt, [this] { body(); }, "training step", run_graph_refusal(run, method));
}

bool GraphStep::takes(const Batch& batch) {
  if (!graph_->fallback().empty()) return false;
  if (!static_batch_.images.defined()) {  // the first batch fixes the static shapes
    static_batch_.images = Tensor::empty(batch.images.shape(), batch.images.dtype(), r_.device);
    static_batch_.labels = Tensor::empty(batch.labels.shape(), batch.labels.dtype(), r_.device);
    return true;
  }
  if (batch.images.shape() == static_batch_.images.shape() && batch.labels.shape() == static_batch_.labels.shape())
    return true;
  if (!shape_logged_) {
    log_info(cat("training step: batch ", batch.index, " has shape ", batch.images.shape().str(), ", not the captured ",
                 static_batch_.images.shape().str(), ": such batches (an epoch's short last one) run eagerly "
                 "(logged once)"));
    shape_logged_ = true;
  }
  return false;
}

TaskStep GraphStep::run(const Batch& batch) {
  // Stream-ordered copies on the compute stream: after the previous replay has read the buffers,
  // before this one does.
  static_batch_.images.copy_(batch.images);
  static_batch_.labels.copy_(batch.labels);
  static_batch_.index = batch.index;
  graph_->run();
  return {output_, loss_};
}

// The loop's eager step (apps/runner/loop.cpp) on the static buffers, its results copied out:
// everything it allocates is dropped before it returns, as a capture requires.
void GraphStep::body() {
  TaskStep s;
  {
    PrecisionScope precision(r_.cfg.precision);
    s = r_.task->forward(*r_.model, static_batch_);
    opt_.zero_grad();
    s.loss.backward();
  }
  if (!output_.defined()) {  // in the first (eager) step, so never inside the capture
    output_ = Tensor::empty(s.output.shape(), s.output.dtype(), r_.device);
    loss_ = Tensor::empty(s.loss.shape(), s.loss.dtype(), r_.device);
  }
  {
    NoGradGuard no_grad;
    output_.copy_(s.output);
    loss_.copy_(s.loss);
  }
  opt_.step_staged();
}

}  // namespace trim
