#include "pruning/l1_filter.h"

#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "pruning/greg_config.h"
#include "pruning/greg_select.h"
#include "pruning/mask_rule.h"

namespace trim {

L1FilterPruning::L1FilterPruning(const Config& cfg)
    : PruningMethod("l1_filter", cfg), s_(read_l1_filter_settings(cfg)), where_(cfg.source() + ": " + cfg.path()) {}

int64_t L1FilterPruning::round_epochs(int64_t round, int64_t manifest_epochs) const {
  if (round < prune_round()) return s_.pretrain_epochs;
  return s_.finetune_epochs > 0 ? s_.finetune_epochs : manifest_epochs;
}

void L1FilterPruning::begin_run(const RunInfo& run) {
  check_trained_start(where_, s_.pretrain_epochs, run.init_from, name_);
  slim_ = {run.output, run.model, run.writes_files};
}

void L1FilterPruning::attach(Module& model, ParamStore& store) {
  PruningMethod::attach(model, store);
  plan_ = plan_filter_units(model, store, set_, s_.ratios, true, where_, name_);
  rows_.assign(set_.size(), {});
}

void L1FilterPruning::select() {
  NoGradGuard no_grad;
  std::vector<int64_t> k(set_.size(), 0);
  for (const FilterUnit& u : plan_.units)
    if (!u.stream()) k[u.parts[0]] = u.n_prune;
  GregSelection weights = greg_select(GregMode::filter, set_, k);  // Σ|W_j| per row, ties toward the lower row
  for (const FilterUnit& u : plan_.units) {
    if (u.stream()) stream_rows(u, lowest(stream_class_scores(set_, u, 1), u.n_prune), rows_);
    else rows_[u.parts[0]] = weights.rows[u.parts[0]];
  }
}

void L1FilterPruning::begin_round(const StepInfo& at, Module&, ParamStore&) {
  if (at.round != prune_round()) return;
  select();
  set_masks(filter_masks(set_, *store_, mask_, rows_, plan_.coupled));  // zeroes filters, biases, BN channels
}

std::unique_ptr<SgdBase> L1FilterPruning::make_optimizer(std::shared_ptr<ParamStore> store, const SgdOptions& options) {
  base_lr_ = options.lr;
  // Every slot masked, not only the prunable weights: a removed filter's bias and BN channel must
  // stay zero through fine-tuning (the arena holds 1 wherever nothing is removed).
  auto opt = std::make_unique<Sgd<MaskRule>>(store, options);
  for (size_t s = 0; s < store->size(); ++s) opt->set_rule_params(s, {mask_.data<float>() + store->slot(s).offset});
  return opt;
}

float L1FilterPruning::lr(const StepInfo& at, float scheduled) const {
  if (at.round == prune_round() && s_.finetune_lr > 0.0 && base_lr_ > 0.0f)
    return float(double(scheduled) * s_.finetune_lr / double(base_lr_));
  return scheduled;
}

bool L1FilterPruning::finalize(Module& model, ParamStore& store, nlohmann::json& summary) {
  bool changed = PruningMethod::finalize(model, store, summary);
  export_filter_slim(model, set_, plan_, rows_, slim_, name_, summary);
  return changed;
}

nlohmann::json L1FilterPruning::state_json() const { return {{"rows", rows_}}; }

void L1FilterPruning::load_state_json(const nlohmann::json& state) {
  std::vector<std::vector<int64_t>> rows = state.at("rows").get<std::vector<std::vector<int64_t>>>();
  if (rows.size() != set_.size())
    throw Error(cat("l1_filter: the checkpoint holds the rows of ", rows.size(), " weights, this run prunes ", set_.size()));
  rows_ = std::move(rows);
}

}  // namespace trim
