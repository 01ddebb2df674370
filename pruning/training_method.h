#pragma once
// TrainingMethod: the one interface through which a training method (dense training, a pruner)
// enters trim's training loop (apps/runner/loop.h). The loop owns data, forward, backward,
// evaluation, metrics and checkpoints; a method chooses the optimizer and its step rule, may change
// the weights the forward pass reads, add a loss term, act around each step and at epoch and round
// boundaries, and keeps state that checkpoints save and restore. Every hook has a default that does
// nothing, so dense training is a method with no overrides.
//
// Order of calls:
//   begin_run -> add_parameters -> (ParamStore built) -> attach -> check_length (data loaded)
//   -> [resume: load_state]
//   for each round: [begin_round unless resuming inside it] -> make_optimizer
//     for each epoch, each batch: [round_over: the round ends here] lr, extra_loss, before_step,
//       (step), after_step
//     end_epoch (after evaluation)
//   end_round, ..., finalize
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/optim/schedule.h"
#include "core/optim/sgd.h"
#include "layers/module.h"

namespace trim {

// Where training stands when a hook is called.
struct StepInfo {
  int64_t round = 0;              // 0-based
  int64_t epoch = 0;              // 0-based, within the round
  int64_t epochs = 0;             // per round
  int64_t batch = 0;              // batches of this epoch already trained (the step's own, for step hooks)
  int64_t batches_per_epoch = 0;
  int64_t step = 0;               // optimizer steps before this one, over all rounds
  float lr = 0.0f;                // the step's scheduled learning rate
  // The round's learning-rate schedule, in the step hooks (extra_loss, before_step, after_step):
  // lr_at gives every step's lr, for methods whose schedule follows the LR sum; null elsewhere.
  const LrSchedule* schedule = nullptr;
  // end_epoch only: the test accuracy (0..1) of the model as it stands now (a method may evaluate
  // a temporarily changed model, e.g. hard-masked, and restore it). Empty in other hooks.
  std::function<double()> evaluate;
};

// What the trainer tells a method about the run before add_parameters.
struct RunInfo {
  std::string output;      // the run folder (files a method writes go below it)
  SgdOptions optimizer;    // the manifest's optimizer settings (base lr, momentum, ...)
  nlohmann::json model;    // the manifest's model spec (e.g. to describe a slimmed model)
  // False on the ranks other than 0 of a data-parallel job: the method computes and reports
  // everything as usual but writes no file (rank 0 alone writes the run folder).
  bool writes_files = true;
  // The manifest's top-level init_from: the weights the model starts from (empty: its seeded
  // initialisation). Loaded before add_parameters, except on resume (the checkpoint holds them).
  std::string init_from;
};

// The run's length, known once the data is loaded (check_length).
struct RunLength {
  int64_t manifest_epochs = 0;    // train.epochs (round_epochs gives each round's)
  int64_t batches_per_epoch = 0;  // optimizer steps per epoch (on each rank)
};

class TrainingMethod {
 public:
  virtual ~TrainingMethod() = default;
  // The method's name, as summary.json and metrics report it ("dense", "lats", ...).
  virtual std::string name() const = 0;
  // Training rounds (SAP, lottery tickets: several). Each trains the manifest's epochs with a
  // fresh optimizer and a restarted learning-rate schedule.
  virtual int64_t rounds() const { return 1; }
  // Epochs of round `round` (the manifest's train.epochs unless the method says otherwise, e.g.
  // a fine-tuning round of its own length). With round_over, the round's most epochs.
  virtual int64_t round_epochs(int64_t round, int64_t manifest_epochs) const { return manifest_epochs; }
  // Whether the round in progress is over before its planned epochs, at a step its own state
  // decides (GReg's regularization round ends at the hard prune). Asked before each batch after an
  // epoch's first; true ends the epoch there (a short epoch, evaluated and recorded as the round's
  // last) and the round with it. Must follow from state that checkpoints restore.
  virtual bool round_over(const StepInfo& at) const { return false; }
  // Whether training the last round for more epochs than planned, from where it stands, gives the
  // run that had planned them from the start (nothing of the method depends on the total): what
  // a --resume with a larger train.epochs needs. False unless a method knows it is so.
  virtual bool extends_exactly() const { return false; }

  // Called once, first, with the run's folder and optimizer settings.
  virtual void begin_run(const RunInfo& run) {}
  // Set-up. `params` arrives holding the model's parameters (weight decay as the manifest says);
  // a method may change their step options (a master copy, an lr scale, clipping) and append its
  // own parameters (LTP's thresholds). Then the store is built from it.
  virtual void add_parameters(Module& model, std::vector<OptimParam>& params) {}
  // The store exists (parameters now live in it): install weight functions, create masks...
  virtual void attach(Module& model, ParamStore& store) {}
  // Called once after attach, before the run folder is touched (fresh runs and resumes alike):
  // refuses, as one trim::Error naming the manifest and key, settings that cannot work over a run
  // of this length (a schedule that would not complete, a round too short for its phase), so that
  // a run does not find out after hours of training.
  virtual void check_length(const RunLength& run) const {}

  // The start of a round (also of round 0), not called when a resumed run continues inside it:
  // e.g. rewind the weights, prune by the previous round's result.
  virtual void begin_round(const StepInfo& at, Module& model, ParamStore& store) {}
  // The optimizer of a round; a fresh one each round (momentum zeroed).
  virtual std::unique_ptr<SgdBase> make_optimizer(std::shared_ptr<ParamStore> store, const SgdOptions& options) {
    return std::make_unique<DenseSgd>(std::move(store), options);
  }

  // The learning rate of this step. `scheduled` is the manifest's schedule at this step (also
  // at.lr); a method with its own rate (GReg's pruning and fine-tuning rates) returns it here. The
  // loop alone sets the optimizer's lr, to this value, before the step's forward pass.
  virtual float lr(const StepInfo& at, float scheduled) const { return scheduled; }
  // A loss term added to the task loss of this step (LTP's soft L0), or an undefined tensor.
  virtual Tensor extra_loss(const StepInfo& at) { return {}; }
  // Around the optimizer step: set the rule's per-step scalars (thresholds, penalties), masks...
  virtual void before_step(const StepInfo& at, SgdBase& optimizer) {}
  virtual void after_step(const StepInfo& at, SgdBase& optimizer) {}

  // Whether the method's step may be captured once as a CUDA graph and replayed (the manifest's
  // cuda.graph, core/optim/step_graph.h): true only when every step runs the same device work on
  // the same buffers, extra_loss is undefined, and before_step / after_step change nothing but
  // the rule's scalars and host state (no kernels, no reading of gradients; under a graph,
  // before_step runs before the step's forward pass). False by default: a method opts in.
  virtual bool graph_safe() const { return false; }

  // After an epoch's evaluation: add the method's metrics (sparsity, thresholds, ...) to its
  // metrics.jsonl line.
  virtual void end_epoch(const StepInfo& at, Module& model, ParamStore& store, nlohmann::json& metrics) {}
  // After a round's last epoch (its checkpoint is written after this).
  virtual void end_round(const StepInfo& at, Module& model, ParamStore& store) {}
  // After the last round: put the model into its deployed form (hard masks, S_D(theta)) and add
  // summary keys; return true when the model changed, so the trainer evaluates it again (the
  // summary's test accuracy is the deployed model's). The trainer then saves it as model.safetensors.
  virtual bool finalize(Module& model, ParamStore& store, nlohmann::json& summary) { return false; }

  // State checkpoints keep: tensors the method owns (saved as "method.<name>", restored in place
  // into the same tensors) and a JSON value (saved as metadata "trim.method").
  virtual std::vector<std::pair<std::string, Tensor>> state_tensors() const { return {}; }
  virtual nlohmann::json state_json() const { return nullptr; }
  virtual void load_state_json(const nlohmann::json& state) {}
};

// Plain dense training.
class DenseTraining final : public TrainingMethod {
 public:
  std::string name() const override { return "dense"; }
  bool extends_exactly() const override { return true; }  // no state, no schedule of its own
  bool graph_safe() const override { return true; }       // no hooks at all
};

}  // namespace trim
