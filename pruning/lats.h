#pragma once
// LATS: soft threshold pruning (pruning/README.md#lats; Chen et al., ICLR 2023). Each prunable weight is a
// latent theta (the store's master copy, updated by the step); the forward pass reads
// w = S_d(theta) = sign(theta) max(|theta| - d, 0), written by the same fused step launch
// (LatsRule::store) with d the threshold of the *next* forward pass, so the first forward uses d = 0
// and after k steps d = D f(k / N). No mask is stored: pruned means |theta| <= d, and pruned
// weights get the straight-through gradient and can regrow. Weight decay (as the manifest sets it:
// decay_bn_and_bias) applies to theta and to BN; momentum is never masked.
//
// The manifest's "pruning" object (besides include / exclude / pqi, pruning/pruning_method.h):
//   {"method": "lats",
//    "final_threshold": D,      required, in [1e-30, 100]: the threshold at the end (the code's
//                               --flat-width; trained weights are far below 100 in magnitude, so a
//                               larger D could only prune everything)
//    "schedule": "slats",       slats (S-LATS, default) | lats (per-epoch LR sum) | pgh | constant |
//                               exact (d_{k+1} = d_k + D eta_k / sum eta over the run's LR table)
//    "beta": b,                 pgh only, required, in [1e-6, 1e6] (1 is S-LATS; ln b stays small)
//    "start_epoch": P}          d = 0 before epoch P; the schedule spans the remaining iterations
//                               (0 by default; not with "constant"); below train.epochs, checked
//                               at start-up (check_length)
// The exact mode reads the learning rate of every step of the run from the trainer's schedule
// (StepInfo::schedule), so the table is the one the steps use, warm-up included.
// Metrics: sparsity / layer_sparsity / pqi (base; counted on the forward weights, PQI over the
// surviving ones), threshold (d in force), regrown and newly_pruned (weights whose zero state
// changed since the previous epoch). Deployed model: w = S_D(theta).
#include <vector>

#include "pruning/lats_rule.h"
#include "pruning/lats_schedule.h"
#include "pruning/pruning_method.h"

namespace trim {

class Lats : public PruningMethod {
 public:
  explicit Lats(const Config& cfg);

  void add_parameters(Module& model, std::vector<OptimParam>& params) override;
  void attach(Module& model, ParamStore& store) override;
  void check_length(const RunLength& run) const override;
  void begin_round(const StepInfo& at, Module& model, ParamStore& store) override;
  std::unique_ptr<SgdBase> make_optimizer(std::shared_ptr<ParamStore> store, const SgdOptions& options) override;
  void before_step(const StepInfo& at, SgdBase& optimizer) override;
  // before_step sets only the rule's threshold scalar (staged before each replay) and host state.
  bool graph_safe() const override { return true; }
  void end_epoch(const StepInfo& at, Module& model, ParamStore& store, nlohmann::json& metrics) override;
  nlohmann::json state_json() const override;
  void load_state_json(const nlohmann::json& state) override;

  const LatsSchedule& schedule() const { return sched_; }
  // The threshold of the next forward pass (the one the last step wrote the weights with).
  float threshold() const { return float(d_); }

 protected:
  // Writes w = S_D(theta) into every prunable parameter.
  bool deploy() override;

 private:
  void check_epochs(int64_t epochs) const;

  LatsSchedule sched_;
  RuleHandle<LatsRule> rule_;  // the threshold of the optimizer make_optimizer built last
  const SgdBase* optimizer_ = nullptr;  // that optimizer: the one whose steps the threshold is for
  std::string where_;  // "<manifest>: /pruning", for errors found once the run's length is known
  double d_ = 0.0;
  std::vector<double> lr_prefix_;  // exact mode
  int64_t prefix_epochs_ = -1, prefix_batches_ = -1;
};

}  // namespace trim
