#pragma once
// LTP, learned threshold pruning (pruning/README.md#ltp; Azarian et al., arXiv 2003.00075).
//
// Like the paper and the spec, it is meant to start from a trained network (the manifest's
// top-level init_from); from scratch it also runs.
// Phase A (round 0, train.epochs): every prunable layer l trains through the soft mask
// v = w ⊙ σ((w² − τ_l)/T_l) (pruning/ltp_op.h), T_l = t0·Var(|w_l|) recomputed every forward,
// with the loss L_CE + λ·Σ_l L0_l / Ntot. Each τ_l (starting at 0) is a 1-element parameter of
// the optimizer: no weight decay, lr = lr_tau × (scheduled lr / optimizer.lr), gradient clamped
// to ±clip_tau (trim's safety net, not in the paper: a clamp that binds on most steps turns τ's
// learning into a fixed ramp, so each epoch logs the clamped fraction). After every epoch the
// hard-masked network (keep w² > τ) is evaluated and logged; the first time its sparsity reaches a target of `trail`, it is written to
// <output>/trail/sparsity_<pct>.safetensors with its test accuracy.
// Phase B (round 1, finetune_epochs): the hard mask is fixed (w² > τ) and τ dropped; only when
// `top_up` is true (trim's addition, in neither the paper nor the spec; off by default) and the
// hard mask is below `target`, the smallest-|w| survivors (over the whole prunable set) are pruned
// on top to reach it exactly. Without top_up, `target` only warns when the thresholds land short
// of or past it. The base's MaskRule keeps gradients, weights and momentum of pruned entries at zero.
//
//   {"method": "ltp", "t0": T₀ in [1e-30, 1e6], "lambda": λ in [0, 1e6], "lr_tau": lr_τ in (0, 1e3],
//                                                                         (required: no defaults)
//    "clip_tau": c_τ in [0, 1e6] (0 or absent: no clamp), "finetune_epochs": E in [1, 10^6],
//    "trail": [s, ...] (sparsities in (0, 1), optional), "target": s (optional),
//    "top_up": false | true (needs target),
//    + include / exclude / pqi (pruning/pruning_method.h)}
//
// metrics.jsonl (phase A): sparsity (hard rule), layer_sparsity, pqi, thresholds (τ per layer),
// temperatures (T per layer), transition_band (fraction with |w² − τ|/T < 4), soft_l0 (Σ m / Ntot),
// hard_test_accuracy, lambda, trail_reached (targets reached this epoch), tau_clamped_fraction
// (the fraction of the epoch's τ updates, over steps and layers, whose gradient the clamp changed)
// and tau_clamped_fraction_layers (the same per layer). summary.json: trail, thresholds,
// ltp_sparsity (phase A's hard mask, before any top-up), top_up, top_up_pruned.
#include "pruning/pruning_method.h"

namespace trim {

class WeightedLayer;

struct LtpTrailPoint {
  double target = 0.0;    // the listed sparsity
  int64_t epoch = 0;      // phase-A epoch (0-based) at whose end it was first reached
  double sparsity = 0.0;  // the hard-masked sparsity then
  double test_accuracy = -1.0;  // of the hard-masked model (-1: no evaluator)
  std::string file;       // relative to the run folder
};

class LearnedThreshold final : public PruningMethod {
 public:
  explicit LearnedThreshold(const Config& cfg);

  int64_t rounds() const override { return 2; }
  int64_t round_epochs(int64_t round, int64_t manifest_epochs) const override {
    return round == 0 ? manifest_epochs : finetune_epochs_;
  }
  void begin_run(const RunInfo& run) override;
  void add_parameters(Module& model, std::vector<OptimParam>& params) override;
  void attach(Module& model, ParamStore& store) override;
  void check_length(const RunLength& run) const override;
  void begin_round(const StepInfo& at, Module& model, ParamStore& store) override;
  Tensor extra_loss(const StepInfo& at) override;
  void after_step(const StepInfo& at, SgdBase& optimizer) override;
  void end_epoch(const StepInfo& at, Module& model, ParamStore& store, nlohmann::json& metrics) override;
  bool finalize(Module& model, ParamStore& store, nlohmann::json& summary) override;
  std::vector<std::pair<std::string, Tensor>> state_tensors() const override;
  nlohmann::json state_json() const override;
  void load_state_json(const nlohmann::json& state) override;

  // The file name of a trail point: sparsity_90.safetensors, sparsity_98.5.safetensors.
  static std::string trail_file(double target);

 protected:
  SparsityReport current_sparsity() const override;

 private:
  void install_masks();
  void drop_masks();
  // Hard masks (1: w² > τ) of the current weights, one per prunable tensor.
  std::vector<Tensor> hard_masks() const;

  double t0_, lambda_, lr_tau_, clip_tau_ = 0.0, target_ = -1.0;
  bool top_up_enabled_ = false;
  int64_t finetune_epochs_ = 0;
  std::vector<double> trail_;
  std::string output_;
  std::string where_lr_tau_;  // "<manifest>: /pruning/lr_tau"
  bool write_files_ = true;  // RunInfo::writes_files
  float base_lr_ = 0.0f;

  std::vector<Tensor> tau_;              // one [1] per prunable tensor (views of the store's params)
  std::vector<WeightedLayer*> layers_;   // their layers
  std::vector<Tensor> l0_;               // the last training forward's soft L0 per layer
  // Per layer, the steps of this epoch whose τ gradient the clamp changed: an i32 [1] on the
  // device, counted after each step without a host synchronisation, read and zeroed by end_epoch.
  std::vector<Tensor> clamped_;
  int64_t phase_ = 0;                    // 0: joint training (A), 1: hard mask + fine-tune (B)
  std::vector<LtpTrailPoint> reached_;
  double ltp_sparsity_ = -1.0;           // the hard mask's sparsity when phase B began
  int64_t top_up_ = 0;                   // weights pruned on top of it to reach `target`
};

}  // namespace trim
