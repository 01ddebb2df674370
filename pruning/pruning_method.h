#pragma once
// PruningMethod: what every pruning method shares, on top of the training loop's hooks
// (pruning/training_method.h):
//   - the prunable set: conv and linear weights, or the manifest's include/exclude patterns;
//   - one mask per prunable weight, in the parameter store's "mask" arena, enforced inside the
//     optimizer step on gradient, weight and momentum (MaskRule, pruning/README.md);
//   - per-epoch reports: sparsity (global and per layer) and the PQ Index (pruning/README.md#sap);
//   - the deployed model at the end (hard masks) and the summary's sparsity.
// A method derives from it and overrides the hooks of its schedule; the keys every method shares
// are read here from the manifest's "pruning" object:
//   "method": "<name>"                  (read by the app's registry)
//   "include": ["glob", ...], "exclude": ["glob", ...]   (pruning/prunable.h)
//   "pqi": {"p": 0.5, "q": 1.0}         PQ Index reported every epoch (0 < p < q <= 10)
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "pruning/method_config.h"
#include "pruning/training_method.h"
#include "pruning/prunable.h"
#include "pruning/report.h"

namespace trim {

// Bounds of the methods' epoch and step counts: the run's own (train.epochs, steps), since a round
// or a schedule beyond them could never run.
constexpr int64_t kMaxMethodEpochs = 1'000'000;
constexpr int64_t kMaxMethodSteps = int64_t(1) << 40;
// Open-ended ranges of Config::real_in, for the methods' settings.
constexpr Config::Interval kPositive{0.0, std::numeric_limits<double>::infinity(), true, true};      // (0, inf)
constexpr Config::Interval kNonNegative{0.0, std::numeric_limits<double>::infinity(), false, true};  // [0, inf)
// The exponents p, q of a PQ Index: (0, 10], ten times the largest published q (pruning/README.md#sap: 2);
// beyond it |w|^q under- or overflows for ordinary weights.
constexpr Config::Interval kPqiExponent{0.0, 10.0, true, false};

class PruningMethod : public TrainingMethod {
 public:
  // Reads the shared keys of `cfg` (the "pruning" object); the subclass reads its own, and the
  // app calls cfg.finish() once the method is built.
  PruningMethod(std::string name, const Config& cfg);

  std::string name() const override { return name_; }
  void attach(Module& model, ParamStore& store) override;
  std::unique_ptr<SgdBase> make_optimizer(std::shared_ptr<ParamStore> store, const SgdOptions& options) override;
  void end_epoch(const StepInfo& at, Module& model, ParamStore& store, nlohmann::json& metrics) override;
  bool finalize(Module& model, ParamStore& store, nlohmann::json& summary) override;
  std::vector<std::pair<std::string, Tensor>> state_tensors() const override;

 protected:
  // The current masks, one view per prunable tensor (into the store's "mask" arena).
  std::vector<Tensor> masks() const;
  // Replaces the masks (one per prunable tensor, 0/1, same shapes) and zeroes the pruned weights
  // (and their master copies): the step keeps them at zero from then on.
  void set_masks(const std::vector<Tensor>& masks);
  // Multiplies every prunable weight (and master copy) by its mask.
  void apply_masks();
  // Sparsity of the weights the model would deploy now; methods with soft or implicit masks
  // override it.
  virtual SparsityReport current_sparsity() const;
  // The deployed form of the weights; the default hard-masks them. Returns whether it changed them.
  virtual bool deploy();

  std::string name_;
  PrunableFilter filter_;
  double pqi_p_ = 0.5, pqi_q_ = 1.0;
  PrunableSet set_;             // the prunable weights (views into the store's params arena)
  std::vector<size_t> slots_;   // their store slots
  ParamStore* store_ = nullptr;
  Module* model_ = nullptr;
  Tensor mask_;                 // the store's "mask" arena (1 outside the prunable set)
};


}  // namespace trim
