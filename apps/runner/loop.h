#pragma once
// The training loop as a library, after ggml-opt (ggml_opt_epoch, ggml_opt_fit): epoch() trains one
// epoch of a run (apps/runner/run_setup.h) with its Task and TrainingMethod, end_epoch() evaluates
// and records it, fit() runs every round and epoch the method asks for. What happens between steps
// (progress lines, the agreement to stop on SIGTERM, checkpoint cadence, tests' hooks) is a list of
// step callbacks (apps/runner/step_callbacks.h); the loop itself owns only the step:
//   lr (the method's hook over the schedule) -> forward and loss (the task) -> method's extra loss
//   -> backward -> [averaged gradients] -> before_step, step, after_step -> metric sums (the task).
// With cuda.graph (apps/runner/graph_step.h): lr -> before_step -> the captured forward, loss,
// backward and step -> after_step -> metric sums.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/runner/checkpoint.h"
#include "apps/runner/graph_step.h"
#include "apps/runner/progress.h"
#include "apps/runner/run_setup.h"
#include "apps/runner/task.h"
#include "apps/runner/train_metrics.h"
#include "core/optim/schedule.h"
#include "core/optim/sgd.h"
#include "pruning/training_method.h"

namespace trim {

class Loop;

// What a step callback asks of the loop.
enum class StepAction {
  go_on,
  save,     // write a checkpoint of where training stands (mid-epoch; every epoch's end writes one)
  stop,     // stop with a checkpoint (SIGTERM): at once mid-epoch; after the epoch's end at its last batch
  abandon,  // stop at once and write nothing more (what a kill does; tests)
};

// One optimizer step as the callbacks see it, after the step (the loop's progress counts it).
struct StepEvent {
  const TaskStep& result;  // the step's model output and loss
  float lr;                // the step's scheduled learning rate
  int64_t images;          // this rank's examples of the epoch in this session so far
  double seconds;          // since this session's part of the epoch started
};

using StepCallback = std::function<StepAction(Loop& loop, const StepEvent& step)>;

class Loop {
 public:
  // `run` has its run folder (run.dir) and, under several ranks, its reducer in place.
  Loop(Run& run, TrainingMethod& method);

  // Adds a callback run after every step, after the ones added before.
  void add_step_callback(StepCallback callback);
  // Continues from `ck` (checked with check_resume): where it stood, the optimizer of its round
  // with its state, the model, the method, the generator and each rank's unfolded metric sums.
  void resume(const Checkpoint& ck);

  // Every round and epoch from where training stands; false when a callback stopped it.
  bool fit();
  // One epoch of training from where it stands (at a round's start first the method's begin_round
  // and a fresh optimizer); adds the training keys of its metrics.jsonl line to `line` (lr, train
  // metrics, timings); false when a callback stopped it.
  bool epoch(nlohmann::json& line);
  // After epoch(): evaluation when due, the method's and the model's metrics, the line appended to
  // metrics.jsonl, the round's end, the replica check and the checkpoint of the next start.
  void end_epoch(nlohmann::json& line);

  // The model on the test set now (every rank gets the whole set's metrics).
  Eval evaluate();

  Run& run() { return r_; }
  const TrainingMethod& method() const { return method_; }
  const TrainProgress& at() const { return p_; }
  int64_t epochs() const;  // of the round in progress
  // The epoch's totals so far as this rank sees them (the job's sums arrive at the next fold).
  MetricTotals running_totals() const;
  Progress& progress_line() { return progress_; }
  // Whether a callback stopped the run with a checkpoint (SIGTERM).
  bool stopped() const { return stopped_; }

 private:
  using Clock = std::chrono::steady_clock;
  // This session's part of the epoch in progress.
  struct EpochClock {
    Clock::time_point t0;
    double seconds_before = 0.0;  // the epoch's training time in earlier sessions
    int64_t first_step = 0;       // the step the epoch started at
    int64_t images = 0, skipped = 0;  // this rank's examples, bad files substituted
  };

  LrSchedule schedule() const;
  StepInfo info(int64_t batch, float lr, const LrSchedule* sched = nullptr) const;
  bool step(const Batch& batch, float lr, const LrSchedule& sched);
  void new_optimizer();
  bool after_step(const StepEvent& event);
  void finish_epoch(nlohmann::json& line, float lr);
  void fold();
  double loss_bound() const;
  void check_finite(const MetricTotals& totals);
  void save_mid_epoch();
  void save(const TrainProgress& at);

  Run& r_;
  TrainingMethod& method_;
  std::vector<StepCallback> callbacks_;
  TrainProgress p_;
  std::unique_ptr<SgdBase> opt_;
  std::unique_ptr<GraphStep> graph_;  // cuda.graph: the step of opt_ as a CUDA graph (reset with opt_)
  bool graph_off_ = false;            // a graph fell back for good: every later step is eager
  MetricsAccumulator metrics_;
  EpochClock clock_;
  Progress progress_;
  Eval last_eval_;
  bool stopped_ = false;
};

}  // namespace trim
