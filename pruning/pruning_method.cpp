#include "pruning/pruning_method.h"

#include "core/ops/elementwise.h"
#include "pruning/mask_rule.h"

namespace trim {

PruningMethod::PruningMethod(std::string name, const Config& cfg) : name_(std::move(name)) {
  CommonSettings common = read_common_settings(cfg);  // pruning/method_config.h
  filter_ = common.filter;
  pqi_p_ = common.pqi_p;
  pqi_q_ = common.pqi_q;
}

void PruningMethod::attach(Module& model, ParamStore& store) {
  model_ = &model;
  store_ = &store;
  set_ = prunable_set(model.named_parameters(), filter_);
  slots_.clear();
  for (const std::string& n : set_.names) {
    int s = store.find(n);
    TRIM_CHECK(s >= 0, cat("pruning: prunable parameter '", n, "' is not in the parameter store"));
    slots_.push_back(size_t(s));
  }
  mask_ = store.state("mask", 1.0f);
}

std::unique_ptr<SgdBase> PruningMethod::make_optimizer(std::shared_ptr<ParamStore> store, const SgdOptions& options) {
  auto opt = std::make_unique<Sgd<MaskRule>>(store, options);
  for (size_t s : slots_) opt->set_rule_params(s, {mask_.data<float>() + store->slot(s).offset});
  return opt;
}

std::vector<Tensor> PruningMethod::masks() const {
  std::vector<Tensor> out;
  for (size_t s : slots_) out.push_back(store_->view(mask_, s));
  return out;
}

void PruningMethod::set_masks(const std::vector<Tensor>& m) {
  TRIM_CHECK(m.size() == slots_.size(), "pruning: one mask per prunable tensor expected");
  for (size_t i = 0; i < slots_.size(); ++i) {
    Tensor view = store_->view(mask_, slots_[i]);
    view.copy_(m[i]);
  }
  apply_masks();
}

void PruningMethod::apply_masks() {
  // One in-place pass over each arena (the mask is 1 outside the prunable set): no temporary.
  Tensor params = store_->params();
  mul_(params, mask_);
  if (store_->has_master()) {
    Tensor master = store_->master();
    mul_(master, mask_);
  }
}

SparsityReport PruningMethod::current_sparsity() const { return sparsity_report(set_); }

bool PruningMethod::deploy() {
  apply_masks();
  return true;
}

void PruningMethod::end_epoch(const StepInfo&, Module&, ParamStore&, nlohmann::json& metrics) {
  SparsityReport s = current_sparsity();
  metrics["sparsity"] = s.sparsity;
  nlohmann::json layers = nlohmann::json::object();
  for (const LayerSparsity& l : s.layers) layers[l.name] = l.sparsity;
  metrics["layer_sparsity"] = layers;
  std::vector<PqiUnit> pqi = pq_index_report(set_, masks(), pqi_p_, pqi_q_, PqiScope::global);
  metrics["pqi"] = pqi.empty() ? 0.0 : pqi.front().value;
}

bool PruningMethod::finalize(Module&, ParamStore&, nlohmann::json& summary) {
  bool changed = deploy();
  SparsityReport s = sparsity_report(set_);  // of the deployed weights
  summary["sparsity"] = s.sparsity;
  summary["prunable_parameters"] = s.numel;
  summary["pruned_parameters"] = s.zeros;
  nlohmann::json layers = nlohmann::json::object();
  for (const LayerSparsity& l : s.layers) layers[l.name] = l.sparsity;
  summary["layer_sparsity"] = layers;
  return changed;
}

std::vector<std::pair<std::string, Tensor>> PruningMethod::state_tensors() const { return {{"mask", mask_}}; }

}  // namespace trim
