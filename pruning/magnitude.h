#pragma once
// Magnitude baselines without rewinding (pruning/README.md §1, §2).
//
// "omp", one-shot magnitude pruning: round 0 trains densely for train.epochs; then the smallest
// |w| are pruned once to the target and round 1 fine-tunes for `finetune_epochs` with the mask
// enforced (a fresh optimizer and schedule).
//   {"method": "omp", "target": 0.9, "scope": "global" | "layer", "finetune_epochs": E}
//
// "gmp", gradual magnitude pruning (Zhu & Gupta): after the optimizer update of step t in
// {t0, t0 + dt, ..., t0 + n dt}, every unit is pruned to s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3
// by magnitude of the effective (masked) weights; masks only grow and are frozen after t0 + n dt.
//   {"method": "gmp", "target": s_f, "initial": s_i (0), "start_step": t0, "interval_steps": dt,
//    "events": n, "scope": "layer" (default, as the paper) | "global"}
// Bounds: target in [0, 1), initial in [0, target]; start_step >= 0, interval_steps and events
// >= 1, with start_step + events * interval_steps <= 2^40; and, checked once the data is loaded,
// the last event t0 + n dt must fall within the run (at most train.epochs x batches - 1): a
// schedule that would not complete leaves the model short of its target, so it is refused at start.
// "omp"'s finetune_epochs: 0 (train.epochs) to 10^6, train.epochs' own bound.
#include "pruning/pruning_method.h"
#include "pruning/units.h"

namespace trim {


class OneShotMagnitude final : public PruningMethod {
 public:
  explicit OneShotMagnitude(const Config& cfg);
  int64_t rounds() const override { return 2; }
  int64_t round_epochs(int64_t round, int64_t manifest_epochs) const override {
    return round == 0 ? manifest_epochs : finetune_epochs_ > 0 ? finetune_epochs_ : manifest_epochs;
  }
  void begin_round(const StepInfo& at, Module& model, ParamStore& store) override;
  bool graph_safe() const override { return true; }  // prunes only in begin_round: no step hooks

 private:
  double target_;
  Scope scope_;
  int64_t finetune_epochs_ = 0;
};

// s_t of the cubic schedule (exposed for tests).
double gmp_sparsity(double s_i, double s_f, int64_t t0, int64_t dt, int64_t n, int64_t t);
// The target the masks hold after update t: s at the last pruning event t0 + j dt <= t (j <= n),
// or 0 before t0. metrics.jsonl's target_sparsity; gmp_sparsity(t) is target_sparsity_curve.
double gmp_target_in_force(double s_i, double s_f, int64_t t0, int64_t dt, int64_t n, int64_t t);

class GradualMagnitude final : public PruningMethod {
 public:
  explicit GradualMagnitude(const Config& cfg);
  void check_length(const RunLength& run) const override;
  void after_step(const StepInfo& at, SgdBase& optimizer) override;
  void end_epoch(const StepInfo& at, Module& model, ParamStore& store, nlohmann::json& metrics) override;

 private:
  double initial_, target_;
  int64_t t0_, dt_, n_;
  std::string where_;  // "<manifest>: /pruning", for the start-up check
  Scope scope_;
};

}  // namespace trim
