#pragma once
// The training loop's step as a CUDA graph (the manifest's cuda.graph; core/optim/step_graph.h):
// forward, loss, backward and the optimizer step of a batch, run through one StepGraph on static
// device buffers. Each batch is copied into the static image and label buffers, the graph's
// replay computes the step, and its output and loss land in static tensors the loop's metrics and
// callbacks read (valid until the next step). Steps the graph cannot take run the loop's eager
// step instead, each kind logged once: a batch of another shape than the first (the last, short
// batch of an epoch) and, for good, whatever graph_refusal or the capture refuse.
#include <memory>
#include <string>

#include "apps/runner/run_setup.h"
#include "apps/runner/task.h"
#include "core/optim/step_graph.h"
#include "pruning/training_method.h"

namespace trim {

// Why the run's step cannot be captured at all, or "": graph_refusal's reasons, and a model that
// counts its training passes on the host (a spiking network's firing rates: summary_metric_keys
// not empty), which a replay would not count.
std::string run_graph_refusal(const Run& run, const TrainingMethod& method);

class GraphStep {
 public:
  // For the optimizer `opt` of the round in progress (a new optimizer needs a new GraphStep).
  GraphStep(Run& run, const TrainingMethod& method, SgdBase& opt);

  // Whether run() takes `batch`: false once steps run eagerly for good, and for a batch whose
  // shape is not the static one (fixed by the first batch run() took).
  bool takes(const Batch& batch);
  // The step of `batch` (the optimizer's lr, step number and the method's before_step already
  // set). Returns the static output and loss.
  TaskStep run(const Batch& batch);
  // Why steps run eagerly for good ("" while the graph is used or may still be captured).
  const std::string& fallback() const { return graph_->fallback(); }

 private:
  void body();

  Run& r_;
  SgdBase& opt_;
  std::unique_ptr<StepGraph> graph_;
  Batch static_batch_;      // device buffers the graph reads
  Tensor output_, loss_;    // written by the graph (allocated by the first, eager step)
  bool shape_logged_ = false;
};

}  // namespace trim
