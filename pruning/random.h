#pragma once
// "random": random pruning, the sanity baseline of the pruning literature (a method that does not
// beat it has learned nothing about which weights matter). Round 0 trains densely for
// train.epochs; then a random `target` fraction of the prunable weights is removed once and round
// 1 fine-tunes for `finetune_epochs` (0 or absent: train.epochs) with the mask enforced (a fresh
// optimizer and schedule), exactly as "omp" does with magnitudes.
//   {"method": "random", "target": 0.9, "scope": "layer" | "global", "finetune_epochs": E}
// Bounds: target in [0, 1); finetune_epochs 0 (train.epochs) to 10^6, train.epochs' own bound.
// "layer" (default) removes ⌊target·N_l⌋ weights of every tensor, "global" ⌊target·|P|⌋ weights
// chosen uniformly over the whole prunable set. The choice is drawn from the run's seed on a
// Philox stream of its own, so it is reproducible and leaves initialisation and dropout unchanged.
#include "pruning/pruning_method.h"
#include "pruning/units.h"

namespace trim {

class RandomPruning final : public PruningMethod {
 public:
  explicit RandomPruning(const Config& cfg);
  int64_t rounds() const override { return 2; }
  int64_t round_epochs(int64_t round, int64_t manifest_epochs) const override {
    return round == 0 || finetune_epochs_ == 0 ? manifest_epochs : finetune_epochs_;
  }
  void begin_round(const StepInfo& at, Module& model, ParamStore& store) override;
  bool graph_safe() const override { return true; }  // prunes only in begin_round: no step hooks

 private:
  double target_;
  Scope scope_;
  int64_t finetune_epochs_ = 0;
};

}  // namespace trim
