#pragma once
// L1-norm filter pruning (Li, Kadav, Durdanovic, Samet, Graf, ICLR 2017; pruning/README.md#l1-filter),
// GReg's baseline ("L1 + one-shot"). One shot: at the start of the fine-tuning round, each unit
// (pruning/filter_units.h: a prunable weight, or a residual stream set) loses the
// n_p = min(ceil(r n), n - 1) filters with the smallest L1 norm sum |W_j| (a stream set: the sum
// over its producers' rows of each removal class; ties toward the lower index), with their bias,
// BN channel and the next layer's input channels; the network is then fine-tuned with the mask
// enforced, and the physically slimmed model is exported as GReg's filter mode does.
//
// Rounds: [pretrain (pretrain_epochs > 0): dense, the manifest's schedule] -> prune, fine-tune
// (finetune_epochs; 0: train.epochs) with the manifest's schedule, its base lr replaced by
// finetune_lr when given. The network must be trained first: pretrain_epochs or the manifest's
// top-level init_from (refused otherwise, as GReg).
//
//   {"method": "l1_filter", "ratio": r, "layer_ratios": [{"pattern": "glob", "ratio": r}, ...],
//    "prune_streams": false, "pretrain_epochs": 0, "finetune_epochs": 0, "finetune_lr": 0}
// Bounds: ratio in [0, 1] (GReg's); pretrain_epochs, finetune_epochs in [0, 10^6]; finetune_lr in
// [0, 1e3] (0: optimizer.lr). Metrics: sparsity and PQ Index (every method's); summary:
// "removed_filters", "removed_stream_channels", "slim_model", "slim_parameters".
#include <cstdint>
#include <string>
#include <vector>

#include "pruning/filter_units.h"
#include "pruning/pruning_method.h"

namespace trim {

class L1FilterPruning final : public PruningMethod {
 public:
  explicit L1FilterPruning(const Config& cfg);
  int64_t rounds() const override { return prune_round() + 1; }
  int64_t round_epochs(int64_t round, int64_t manifest_epochs) const override;
  void begin_run(const RunInfo& run) override;
  void attach(Module& model, ParamStore& store) override;
  // The pruning round (the first, or the one after pretraining) starts by pruning.
  void begin_round(const StepInfo& at, Module& model, ParamStore& store) override;
  std::unique_ptr<SgdBase> make_optimizer(std::shared_ptr<ParamStore> store, const SgdOptions& options) override;
  float lr(const StepInfo& at, float scheduled) const override;
  bool graph_safe() const override { return true; }  // prunes in begin_round; lr is a host scalar
  bool finalize(Module& model, ParamStore& store, nlohmann::json& summary) override;
  nlohmann::json state_json() const override;
  void load_state_json(const nlohmann::json& state) override;

  // The pruned rows of each prunable weight (empty before the pruning round).
  const std::vector<std::vector<int64_t>>& pruned_rows() const { return rows_; }

 private:
  int64_t prune_round() const { return s_.pretrain_epochs > 0 ? 1 : 0; }
  void select();

  L1FilterSettings s_;
  std::string where_;  // "<manifest>: /pruning"
  FilterUnits plan_;
  std::vector<std::vector<int64_t>> rows_;
  SlimExport slim_;
  float base_lr_ = 0.0f;
};

}  // namespace trim
