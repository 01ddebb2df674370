#pragma once
// Train-prune-rewind rounds (pruning/README.md#lottery-and-os_sap, pruning/README.md#sap). Rounds
// t = 0..T train train.epochs each with a fresh optimizer and schedule; before round t > 0 the
// method prunes by magnitude within each scope unit and rewinds: prunable weights <- w_k * m, every
// other parameter <- its value at the rewind point, BN running statistics kept. The rewind point
// w_k is the whole parameter arena after "rewind_step" = k optimizer steps of round 0 (0, the
// default: the initialisation; k > 0: Frankle et al. 2019's late rewinding), saved after step k's
// update and kept in checkpoints (method.w_init), so a resumed run rewinds to the same point. k
// may be at most round 0's steps (train.epochs x batches; k equal to it rewinds to round 0's end,
// i.e. fine-tuning with a restarted schedule); a larger k is refused at start-up. The run trains
// (T + 1) x train.epochs epochs in all.
//
// An optional "target" caps the pruning so that sparsity never passes it (the last rounds then
// prune only up to it): trim's convenience, in neither the lottery-ticket papers nor the official
// SAP code; absent, the rule alone decides, as there. Each round t > 0 reports in its metrics.jsonl
// lines how much the cap held back, counted against the masks as they stood before that round:
//   "pruned_this_round"       the weights pruned before this round
//   "cap_held_back"           the rule's count minus pruned_this_round (0 when the cap did not bind)
//   "cap_held_back_fraction"  cap_held_back / the prunable weights
// and summary.json the sums over the rounds ("cap_held_back", "cap_held_back_fraction").
//
//   {"method": "lottery", "rounds": T, "scope": "global", "target": 0.9, "rewind_step": 0, "rate": 0.2}
//       removes ceil((n - 1) x rate) of the n unpruned entries of each unit per round (published:
//       20%; Frankle & Carbin 2019 choose it per network), in integers: rate is a multiple of 1e-4
//   {"method": "os_sap", ...}   the same counts, always ranking the dense weights of round 0
//   {"method": "sap", "rounds": T, "scope": "global", "p": 0.5, "q": 1.0, "eta": 0, "gamma": 1,
//    "beta": 0.9}               SAP: the count per unit from its PQ Index (pruning/sap_amount.h)
// Bounds: rounds in [1, 1000] (the papers use 15-30); target in [0, 1); rate in [0.0001, 0.9999];
// SAP's p and q in (0, 10] with p < q (published: p 0.2-1, q 1-2), eta in [0, 100] (published 0-1),
// gamma in [0, 100] (published 1-9), beta in (0, 1).
#include "pruning/pruning_method.h"
#include "pruning/sap_amount.h"
#include "pruning/units.h"

namespace trim {

class RewindRounds : public PruningMethod {
 public:
  RewindRounds(std::string name, const Config& cfg);
  int64_t rounds() const override { return rounds_ + 1; }
  void attach(Module& model, ParamStore& store) override;
  // Refuses a rewind_step beyond round 0's steps.
  void check_length(const RunLength& run) const override;
  void begin_round(const StepInfo& at, Module& model, ParamStore& store) override;
  // Saves the rewind point after step rewind_step - 1 of round 0 (rewind_step > 0).
  void after_step(const StepInfo& at, SgdBase& optimizer) override;
  void end_epoch(const StepInfo& at, Module& model, ParamStore& store, nlohmann::json& metrics) override;
  // Adds the cap's totals (cap_held_back, cap_held_back_fraction) to the summary.
  bool finalize(Module& model, ParamStore& store, nlohmann::json& summary) override;
  std::vector<std::pair<std::string, Tensor>> state_tensors() const override;
  // The last round's counts and the cap's running total, so a resumed run reports them unchanged.
  nlohmann::json state_json() const override;
  void load_state_json(const nlohmann::json& state) override;

 protected:
  // How many more entries each unit loses before round `round` (> 0), given the current masks.
  virtual std::vector<int64_t> prune_counts(int64_t round, const std::vector<Tensor>& masks) = 0;
  // The magnitudes to rank (default: the trained weights).
  virtual const PrunableSet& ranking(int64_t round) { return set_; }

  int64_t rounds_;
  Scope scope_;
  double target_ = -1.0;  // < 0: none
  int64_t rewind_step_ = 0;
  std::string where_;     // "<manifest>: /pruning", for the start-up check
  Tensor w_init_;         // the whole parameter arena at the rewind point (initialisation, or step rewind_step)
  int64_t pruned_ = 0;            // before the current round
  int64_t held_back_ = 0;         // by the cap, before the current round
  int64_t held_back_total_ = 0;   // by the cap, over all rounds so far
};

class Lottery final : public RewindRounds {
 public:
  Lottery(std::string name, const Config& cfg);  // "lottery" or "os_sap"
  void attach(Module& model, ParamStore& store) override;
  void begin_round(const StepInfo& at, Module& model, ParamStore& store) override;
  std::vector<std::pair<std::string, Tensor>> state_tensors() const override;

 protected:
  std::vector<int64_t> prune_counts(int64_t round, const std::vector<Tensor>& masks) override;
  const PrunableSet& ranking(int64_t round) override;

 private:
  bool one_shot_;          // os_sap: rank the dense weights of round 0
  int64_t rate_ = kLotteryRateDen / 5;  // per kLotteryRateDen of the unpruned entries
  Tensor w_dense_;         // os_sap: the params arena after round 0
  PrunableSet dense_set_;  // views of w_dense_ shaped like the prunable set
};

class Sap final : public RewindRounds {
 public:
  explicit Sap(const Config& cfg);

 protected:
  std::vector<int64_t> prune_counts(int64_t round, const std::vector<Tensor>& masks) override;

 private:
  SapAmount amount_;
};

}  // namespace trim
