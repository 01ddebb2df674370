#include "pruning/rewind.h"

#include "pruning/magnitude.h"
#include "pruning/select.h"

namespace trim {

RewindRounds::RewindRounds(std::string name, const Config& cfg) : PruningMethod(std::move(name), cfg) {
  RewindSettings s = read_rewind_settings(cfg);  // pruning/method_config.h
  rounds_ = s.rounds;
  scope_ = s.scope;
  target_ = s.target;
  rewind_step_ = s.rewind_step;
  where_ = cfg.source() + ": " + cfg.path();
}

void RewindRounds::attach(Module& model, ParamStore& store) {
  PruningMethod::attach(model, store);
  w_init_ = store.params().clone();  // the rewind point when rewind_step is 0; replaced at step k otherwise
}

void RewindRounds::check_length(const RunLength& run) const {
  const int64_t steps = run.manifest_epochs * run.batches_per_epoch;  // round 0 trains train.epochs
  if (rewind_step_ <= steps) return;
  throw Error(cat(where_, "/rewind_step: ", rewind_step_, " is beyond round 0, which trains ", steps, " steps (",
                  run.manifest_epochs, " epochs of ", run.batches_per_epoch,
                  " batches): the rewind point would never be saved; expected 0 (the initialisation) to ", steps));
}

void RewindRounds::after_step(const StepInfo& at, SgdBase&) {
  // at.step is this update's index: after it, the weights have had at.step + 1 updates.
  if (rewind_step_ > 0 && at.round == 0 && at.step + 1 == rewind_step_) w_init_.copy_(store_->params());
}

void RewindRounds::begin_round(const StepInfo& at, Module&, ParamStore& store) {
  if (at.round == 0) return;
  std::vector<Tensor> m = masks();
  std::vector<int64_t> k = prune_counts(at.round, m);
  int64_t wanted = 0;  // what the method's own rule prunes
  for (int64_t c : k) wanted += c;
  if (target_ >= 0.0) {  // never past the target: cap the counts in unit order
    std::vector<int64_t> size = unit_sizes(set_, scope_), alive = unit_unpruned(set_, m, scope_);
    int64_t total = set_.numel(), pruned = 0;
    for (size_t u = 0; u < size.size(); ++u) pruned += size[u] - alive[u];
    int64_t room = std::max<int64_t>(0, count_for_sparsity(target_, total) - pruned);
    for (int64_t& c : k) {
      c = std::min(c, room);
      room -= c;
    }
  }
  pruned_ = 0;
  for (int64_t c : k) pruned_ += c;
  held_back_ = wanted - pruned_;
  held_back_total_ += held_back_;
  std::vector<Tensor> next = prune_units(ranking(at.round), m, scope_, k);
  // Rewind every parameter to its initial value, then mask.
  Tensor params = store.params();
  params.copy_(w_init_);
  set_masks(next);
}

// The cap's count as a fraction of the prunable weights (0 for an empty set).
static double of_prunable(int64_t count, int64_t prunable) { return prunable > 0 ? double(count) / double(prunable) : 0.0; }

void RewindRounds::end_epoch(const StepInfo& at, Module& model, ParamStore& store, nlohmann::json& metrics) {
  PruningMethod::end_epoch(at, model, store, metrics);
  if (at.round == 0) return;  // the dense round prunes nothing
  // Every line of a pruning round says how its masks came about (pruning/rewind.h).
  metrics["pruned_this_round"] = pruned_;
  metrics["cap_held_back"] = held_back_;
  metrics["cap_held_back_fraction"] = of_prunable(held_back_, set_.numel());
}

bool RewindRounds::finalize(Module& model, ParamStore& store, nlohmann::json& summary) {
  bool changed = PruningMethod::finalize(model, store, summary);
  summary["cap_held_back"] = held_back_total_;
  summary["cap_held_back_fraction"] = of_prunable(held_back_total_, set_.numel());
  return changed;
}

nlohmann::json RewindRounds::state_json() const {
  return {{"pruned_this_round", pruned_}, {"cap_held_back", held_back_}, {"cap_held_back_total", held_back_total_}};
}

void RewindRounds::load_state_json(const nlohmann::json& state) {
  if (!state.is_object() || !state.contains("cap_held_back_total"))
    throw Error(cat(name_, ": the checkpoint's trim.method holds no cap counts (written by an older trim?): expected ",
                    "{\"pruned_this_round\", \"cap_held_back\", \"cap_held_back_total\"}, found ", describe_json(state)));
  pruned_ = state.at("pruned_this_round").get<int64_t>();
  held_back_ = state.at("cap_held_back").get<int64_t>();
  held_back_total_ = state.at("cap_held_back_total").get<int64_t>();
}

std::vector<std::pair<std::string, Tensor>> RewindRounds::state_tensors() const {
  auto s = PruningMethod::state_tensors();
  s.emplace_back("w_init", w_init_);
  return s;
}

Lottery::Lottery(std::string name, const Config& cfg) : RewindRounds(name, cfg), one_shot_(name == "os_sap") {
  rate_ = read_lottery_rate(cfg);  // pruning/method_config.h
}

void Lottery::attach(Module& model, ParamStore& store) {
  RewindRounds::attach(model, store);
  if (!one_shot_) return;
  w_dense_ = store.params().clone();
  for (size_t sl : slots_) {
    dense_set_.names.push_back(store.slot(sl).param.name);
    dense_set_.tensors.push_back(store.view(w_dense_, sl));
  }
}

void Lottery::begin_round(const StepInfo& at, Module& model, ParamStore& store) {
  if (one_shot_ && at.round == 1) w_dense_.copy_(store.params());  // the dense model trained in round 0
  RewindRounds::begin_round(at, model, store);
}

std::vector<std::pair<std::string, Tensor>> Lottery::state_tensors() const {
  auto s = RewindRounds::state_tensors();
  if (one_shot_) s.emplace_back("w_dense", w_dense_);
  return s;
}

std::vector<int64_t> Lottery::prune_counts(int64_t, const std::vector<Tensor>& masks) {
  std::vector<int64_t> k;
  for (int64_t n : unit_unpruned(set_, masks, scope_)) k.push_back(n > 1 ? lt_prune_count(n, rate_, kLotteryRateDen) : 0);
  return k;
}

const PrunableSet& Lottery::ranking(int64_t) { return one_shot_ ? dense_set_ : set_; }

Sap::Sap(const Config& cfg) : RewindRounds("sap", cfg) {
  amount_ = read_sap_amount(cfg);  // pruning/method_config.h
  pqi_p_ = amount_.p;
  pqi_q_ = amount_.q;
}

std::vector<int64_t> Sap::prune_counts(int64_t, const std::vector<Tensor>& masks) {
  std::vector<PqiUnit> pqi = pq_index_report(set_, masks, amount_.p, amount_.q, pqi_scope(scope_));
  std::vector<int64_t> k;
  for (const PqiUnit& u : pqi) k.push_back(sap_prune_count(u.d, u.value, amount_));
  return k;
}

}  // namespace trim
