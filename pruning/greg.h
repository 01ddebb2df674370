#pragma once
// GReg-1 and GReg-2: pruning by growing L2 regularization (pruning/README.md#greg).
//
// Rounds: [pretrain] -> regularize -> fine-tune.
//   pretrain (only when pretrain_epochs > 0): dense training with the manifest's schedule.
//   regularize (reg_epochs): constant lr_prune; at iteration i (from 0) of the round, when
//     i mod K_u = 0, the lambda of every unfinished layer grows and its stop rule is tested (before
//     the step, so the step sees the new lambda); the penalty lambda_j * w enters the gradient
//     before weight decay and momentum (GregRule). Once every layer has finished, K_s more
//     iterations run with lambda frozen but applied; after the K_s-th the weights (unstructured) or
//     filters (filter mode, with their bias and BN weight/bias) are hard-pruned: the mask is
//     enforced on gradient, weight and momentum from then on and lambda is 0. The round ends right
//     there (round_over), in the middle of an epoch as a rule, so the next step is fine-tuning's
//     first, as in the reference code (prune, then fine-tune). reg_epochs is the round's most
//     epochs: it must cover the worst case (every layer stopping by its lambda ceiling; checked).
//     In unstructured mode that worst case is the length: (U - 1) K_u + K_s + 1 steps, U the
//     updates that bring lambda to its ceiling (GReg-2: U_pick + U).
//   fine-tune (finetune_epochs, 0: train.epochs): fresh SGD, the manifest's schedule (its base lr
//     replaced by finetune_lr when given), plain cross-entropy, masks enforced, no lambda; it
//     starts at a fresh epoch of the data, at the step after the hard prune.
//
// GReg-1 selects once, at the start of the regularization round, the n_p = min(ceil(r n), n - 1)
// smallest groups by L1 (filters: sum |W_j| over a row of W as [out, -1]; unstructured: |w| per
// layer); only they get lambda = (updates) * delta, the others 0.
// GReg-2 first raises every group's lambda by delta_pick per update; once it reaches ceiling_pick
// it selects by the current magnitudes; then pruned groups continue by delta, kept ones are set to
// lambda_recover (< 0).
// Stop rules: a layer finishes when its pruned groups' lambda reaches `ceiling` (lambda from an
// integer update count in double); in filter mode also by the magnitude ratio: ratio = mean
// score(kept) / mean score(pruned), hist <- 0.9 hist + 0.1 ratio per update (starting at the first
// ratio); GReg-1 finishes every layer once every pruned layer's hist >= mag_ratio_limit, GReg-2
// finishes a (picked) layer by its own hist. Layers with ratio 0 finish at once.
//
//   {"method": "greg1" | "greg2", "mode": "unstructured" | "filter", "ratio": r,
//    "layer_ratios": [{"pattern": "glob", "ratio": r}, ...]   (first match wins; else "ratio")
//    "reg_granularity_prune": 1e-4, "reg_upper_limit": 1.0, "reg_granularity_pick": 1e-5,
//    "reg_upper_limit_pick": 1e-2, "reg_granularity_recover": -1e-4, "mag_ratio_limit": 1000,
//    "update_interval": 10 (K_u), "stabilize_iterations": 10000 (K_s), "lr_prune": 1e-3,
//    "pretrain_epochs": 0, "reg_epochs": E (required),
//    "finetune_epochs": 0, "finetune_lr": 0}
// Bounds (published values in brackets, pruning/README.md#greg): ratio in [0, 1]; reg_granularity_prune and
// _pick in [1e-8, 1] (1e-4, 1e-5); reg_upper_limit and _pick in (0, 1e3] (1, 1e-2), pick below
// prune; reg_granularity_recover in [-1, 0] (-1e-4); mag_ratio_limit in (0, 1e9] (1000);
// update_interval in [1, 10^6] (5, 10); stabilize_iterations in [0, 2^40] (10,000, 40,000);
// lr_prune in (0, 1e3] as a float (1e-3); finetune_lr in [0, 1e3]; pretrain_epochs, finetune_epochs
// in [0, 10^6] and reg_epochs in [1, 10^6] (train.epochs' bound). reg_epochs must cover the worst
// case of the regularization; that is checked at start-up, once the data gives the batches per epoch.
// The network must be trained first: pretrain_epochs > 0 (a dense round with the manifest's
// schedule) or the manifest's top-level init_from (weights of a dense run, e.g. trim-train's
// model.safetensors; with both, pretraining continues from them). /pruning/init_from, GReg's own
// key before init_from served every app, is refused with a message naming the top-level key.
//
// Residual streams (filter mode; layers/channels.h "stream sets"): a layer that feeds a residual add
// cannot lose filters alone; the stream it feeds is pruned as a whole instead. A stream set is one
// more GReg layer (a "unit"), named by its streams' group names joined by ", " (e.g. "conv1 + layer1
// stream" for a ResNet-18's first stream; "layer2 stream"; a CIFAR ResNet's three streams are one
// set, "conv1 + layer1 stream, layer2 stream, layer3 stream", because option-A shortcuts tie them).
// Its groups are the set's removal classes (one channel of a stream, or the channels option-A
// shortcuts tie together); its ratio is the first layer_ratios pattern matching one of its streams'
// names (e.g. {"pattern": "layer2 stream", ...}, or "* stream" for every stream; streams of one set
// must not get different ratios), else "ratio" when "prune_streams": true, else 0 (today's
// behaviour: streams are left alone, so existing manifests run unchanged). A class's importance is
// the sum over every producer feeding the stream (each block's last conv, a downsample conv, the
// stem) of the squared L2 norm of its filter for that channel; the magnitude-ratio stop rule uses the
// square root of that sum (a magnitude, as the mean |W_j| of ordinary layers). The penalty lambda of
// a class applies to the rows of that channel in every producer, and the hard prune masks them with
// their biases and every BN of the stream. A stream unit's producers follow its ratio, not their own
// (they must be prunable weights: not excluded, within "include").
//
// The zoo's stream names: ResNet-18/34 and SEW ResNet "conv1 + layer1 stream", "layer2 stream" ..
// "layer4 stream"; ResNet-50 "layer1 stream" .. "layer4 stream" (its stem "conv1" is an ordinary
// prunable layer); pre-activation ResNet-18 as ResNet-18; WRN "blocks.1 stream" .. "blocks.3 stream";
// MobileNet-V2 "features.N stream" (N: the stage's first block); the CIFAR ResNets' one set above.
//
//   "prune_streams": false (filter mode only) — whether "ratio" applies to streams too.
//
// Metrics: "lambda" (per layer, the mean lambda over its groups), "greg_phase", "greg_iteration".
// Filter mode, when the app sets an export folder: model_slim.safetensors and model_slim.json
// (the slimmed model's spec) next to model.safetensors (pruning/slim.h).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pruning/filter_units.h"
#include "pruning/greg_config.h"
#include "pruning/greg_schedule.h"
#include "pruning/greg_select.h"
#include "pruning/pruning_method.h"

namespace trim {

class Greg final : public PruningMethod {
 public:
  Greg(std::string name, const Config& cfg);  // "greg1" or "greg2"

  int64_t rounds() const override { return first_reg_round() + 2; }
  // Refuses a run that starts from random weights (neither pretraining nor init_from).
  void begin_run(const RunInfo& run) override {
    check_trained_start(c_.where, c_.pretrain_epochs, run.init_from, name_);
    set_slim_export(run.output, run.model);
    slim_.write_files = run.writes_files;
  }
  int64_t round_epochs(int64_t round, int64_t manifest_epochs) const override;
  // The regularization round is over once the hard prune has happened.
  bool round_over(const StepInfo& at) const override { return at.round == first_reg_round() && pruned_; }
  void attach(Module& model, ParamStore& store) override;
  // The regularization round is long enough for the worst case (reg_epochs), checked before anything runs.
  void check_length(const RunLength& run) const override;
  void begin_round(const StepInfo& at, Module& model, ParamStore& store) override;
  std::unique_ptr<SgdBase> make_optimizer(std::shared_ptr<ParamStore> store, const SgdOptions& options) override;
  // The regularisation round runs at lr_prune; fine-tuning at the schedule scaled to finetune_lr.
  float lr(const StepInfo& at, float scheduled) const override;
  void before_step(const StepInfo& at, SgdBase& optimizer) override;
  void after_step(const StepInfo& at, SgdBase& optimizer) override;
  void end_epoch(const StepInfo& at, Module& model, ParamStore& store, nlohmann::json& metrics) override;
  void end_round(const StepInfo& at, Module& model, ParamStore& store) override;
  bool finalize(Module& model, ParamStore& store, nlohmann::json& summary) override;
  std::vector<std::pair<std::string, Tensor>> state_tensors() const override;
  nlohmann::json state_json() const override;
  void load_state_json(const nlohmann::json& state) override;

  // Filter mode: write model_slim.safetensors and model_slim.json into `folder` at finalize, the
  // latter from the run's model spec.
  void set_slim_export(const std::string& folder, const nlohmann::json& model_spec);

  GregMode mode() const { return c_.mode; }
  // Whether the hard prune has happened (masks fixed, lambda 0).
  bool pruned() const { return pruned_; }
  // The pruned rows of each prunable tensor (filter mode; empty before the selection). A stream's
  // producers list the stream's removed channels.
  const std::vector<std::vector<int64_t>>& pruned_rows() const { return rows_; }
  // The names of GReg's layers (units): the prunable weights', then the pruned stream sets'.
  std::vector<std::string> unit_names() const;

 private:
  enum class Phase { pretrain, regularize, stabilize, finetune };
  // One unit of selection and of the stop rules (pruning/filter_units.h: a prunable weight, or in
  // filter mode a stream set) with its regularisation state.
  struct Layer : FilterUnit {
    int64_t updates = 0, pick_updates = 0;
    bool picked = false, finished = false, hist_started = false;
    double hist = 0.0;
  };
  struct Part {  // a prunable weight's share of lambda_ / select_
    int64_t groups = 0, row_size = 1, offset = 0;
  };

  int64_t first_reg_round() const { return c_.pretrain_epochs > 0 ? 1 : 0; }
  bool greg2() const { return name_ == "greg2"; }
  double pruned_lambda(const Layer& l) const;  // current lambda of the layer's pruned groups
  double mean_lambda(const Layer& l) const;
  int64_t worst_case_iterations() const;
  void select(const std::vector<size_t>& layers);  // selection of these layers by current magnitude
  void set_rows(size_t l);                         // rows_ and select_ of layer l's weights from picks_[l]
  void update(int64_t iteration);                 // one lambda update (i mod K_u = 0)
  void write_lambda(size_t l);                    // the device lambdas of layer l from its counters
  void hard_prune();
  std::string phase_name() const;

  GregConfig c_;

  std::vector<Layer> layers_;
  std::vector<Part> parts_;                 // per prunable weight
  std::vector<std::vector<int64_t>> picks_; // filter mode: per layer, the selected groups (rows or classes)
  std::vector<std::vector<int64_t>> rows_;  // filter mode: pruned rows per prunable weight
  FilterUnits plan_;                        // the units, coupled tensors and streams (pruning/filter_units.h)
  Tensor lambda_, select_, ones_;           // per group, all layers concatenated (device)
  Phase phase_ = Phase::pretrain;
  int64_t reg_start_ = 0, finish_iter_ = -1;
  bool pruned_ = false;
  float base_lr_ = 0.0f;
  SlimExport slim_;
};

}  // namespace trim
