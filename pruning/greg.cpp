#include "pruning/greg.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "core/log.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/ops/ops.h"
#include "pruning/greg_rule.h"
#include "pruning/select.h"
#include "pruning/slim.h"
#include "layers/channels.h"

namespace trim {

namespace {

// hist may be +inf (a layer whose pruned filters are all zero): JSON keeps its bits.
uint64_t bits(double x) {
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
double from_bits(uint64_t u) {
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

}  // namespace

Greg::Greg(std::string name, const Config& cfg)
    : PruningMethod(std::move(name), cfg), c_(read_greg_config(cfg, name_ == "greg2")) {}

int64_t Greg::round_epochs(int64_t round, int64_t manifest_epochs) const {
  if (round < first_reg_round()) return c_.pretrain_epochs;
  if (round == first_reg_round()) return c_.reg_epochs;
  return c_.finetune_epochs > 0 ? c_.finetune_epochs : manifest_epochs;
}

void Greg::attach(Module& model, ParamStore& store) {
  PruningMethod::attach(model, store);
  layers_.clear();
  parts_.assign(set_.size(), {});
  rows_.assign(set_.size(), {});
  int64_t offset = 0;
  for (size_t l = 0; l < set_.size(); ++l) {
    const Tensor& w = set_.tensors[l];
    Part& P = parts_[l];
    P.groups = c_.mode == GregMode::filter ? w.shape()[0] : w.numel();
    P.row_size = w.numel() / P.groups;
    P.offset = offset;
    offset += P.groups;
  }
  plan_ = plan_filter_units(model, store, set_, {c_.ratio, c_.layer_ratios, c_.prune_streams},
                            c_.mode == GregMode::filter, c_.where, "greg");
  for (const FilterUnit& u : plan_.units) {
    Layer L;
    static_cast<FilterUnit&>(L) = u;
    L.finished = L.n_prune == 0;  // layers with ratio 0 finish at once
    layers_.push_back(std::move(L));
  }
  picks_.assign(layers_.size(), {});
  Device dev = store.device();
  lambda_ = Tensor::zeros(Shape{std::max<int64_t>(offset, 1)}, DType::f32, dev);
  select_ = Tensor::zeros(Shape{std::max<int64_t>(offset, 1)}, DType::f32, dev);
  ones_ = Tensor::full(Shape{std::max<int64_t>(offset, 1)}, 1.0f, DType::f32, dev);
}

std::vector<std::string> Greg::unit_names() const {
  std::vector<std::string> out;
  for (const Layer& L : layers_) out.push_back(L.name);
  return out;
}

double Greg::pruned_lambda(const Layer& l) const {
  if (pruned_) return 0.0;
  double pick = greg2() ? greg_lambda(l.pick_updates, c_.delta_pick) : 0.0;
  return pick + greg_lambda(l.updates, c_.delta);
}

double Greg::mean_lambda(const Layer& l) const {
  if (pruned_ || l.groups == 0) return 0.0;
  if (greg2() && !l.picked) return greg_lambda(l.pick_updates, c_.delta_pick);
  double kept = greg2() && l.updates > 0 ? c_.recover : 0.0;
  return (pruned_lambda(l) * double(l.n_prune) + kept * double(l.groups - l.n_prune)) / double(l.groups);
}

int64_t Greg::worst_case_iterations() const {
  bool any = std::any_of(layers_.begin(), layers_.end(), [](const Layer& l) { return l.n_prune > 0; });
  if (!any) return c_.k_s;
  int64_t updates;
  if (greg2()) {
    int64_t pick = greg_updates_to_reach(0.0, c_.delta_pick, c_.ceiling_pick);
    updates = pick + greg_updates_to_reach(greg_lambda(pick, c_.delta_pick), c_.delta, c_.ceiling);
  } else {
    updates = greg_updates_to_reach(0.0, c_.delta, c_.ceiling);
  }
  return (updates - 1) * c_.k_u + c_.k_s + 1;
}

void Greg::check_length(const RunLength& run) const {
  int64_t need = worst_case_iterations(), have = c_.reg_epochs * run.batches_per_epoch;
  if (have < need)
    throw Error(cat(c_.where_reg_epochs, ": ", c_.reg_epochs, " epochs of ", run.batches_per_epoch, " batches give ", have,
                    " iterations; the regularization may need ", need, " (every layer stopping at its lambda ceiling, then ",
                    c_.k_s, " stabilization iterations): set reg_epochs to at least ",
                    (need + run.batches_per_epoch - 1) / run.batches_per_epoch));
}

void Greg::begin_round(const StepInfo& at, Module&, ParamStore&) {
  if (at.round < first_reg_round()) {
    phase_ = Phase::pretrain;
    return;
  }
  if (at.round > first_reg_round()) {
    TRIM_CHECK(pruned_, "greg: the regularization round ended before the hard prune");
    phase_ = Phase::finetune;
    return;
  }
  check_length({0, at.batches_per_epoch});  // also at start-up; kept here for runs driven by hand
  phase_ = Phase::regularize;
  reg_start_ = at.step;
  if (!greg2()) {
    std::vector<size_t> all;
    for (size_t l = 0; l < layers_.size(); ++l)
      if (layers_[l].n_prune > 0) all.push_back(l);
    if (!all.empty()) select(all);
  }
  if (std::all_of(layers_.begin(), layers_.end(), [](const Layer& l) { return l.finished; })) {
    phase_ = Phase::stabilize;
    finish_iter_ = -1;
    if (c_.k_s == 0) hard_prune();
  }
}

void Greg::select(const std::vector<size_t>& which) {
  NoGradGuard no_grad;
  std::vector<int64_t> k(set_.size(), 0);
  bool weights = false;
  for (size_t l : which)
    if (!layers_[l].stream()) k[layers_[l].parts[0]] = layers_[l].n_prune, weights = true;
  GregSelection s = weights ? greg_select(c_.mode, set_, k) : GregSelection{};
  for (size_t l : which) {
    const Layer& L = layers_[l];
    if (L.stream()) {  // the n_prune classes of least importance (squared L2 norms; ties toward the lower index)
      picks_[l] = lowest(stream_class_scores(set_, L, 2), L.n_prune);
      set_rows(l);
      continue;
    }
    size_t w = L.parts[0];
    if (c_.mode == GregMode::filter) picks_[l] = rows_[w] = s.rows[w];
    select_.narrow0(parts_[w].offset, parts_[w].groups).copy_(s.selected[w]);
  }
}

void Greg::set_rows(size_t l) {
  NoGradGuard no_grad;
  const Layer& L = layers_[l];
  stream_rows(L, picks_[l], rows_);
  for (size_t w : L.parts) {
    std::vector<float> sel(size_t(parts_[w].groups), 0.0f);
    for (int64_t r : rows_[w]) sel[size_t(r)] = 1.0f;
    select_.narrow0(parts_[w].offset, parts_[w].groups).copy_(Tensor::from_vector(Shape{parts_[w].groups}, sel, select_.device()));
  }
}

void Greg::write_lambda(size_t l) {
  NoGradGuard no_grad;
  const Layer& L = layers_[l];
  for (size_t w : L.parts) {  // a stream's class lambda reaches the rows of that channel in every producer
    const Part& P = parts_[w];
    Tensor lam = lambda_.narrow0(P.offset, P.groups);
    if (greg2() && !L.picked) {
      lam.fill_(float(greg_lambda(L.pick_updates, c_.delta_pick)));
      continue;
    }
    Tensor sel = select_.narrow0(P.offset, P.groups);
    double kept = greg2() ? c_.recover : 0.0;
    lam.copy_(scale(sel, float(pruned_lambda(L) - kept)));
    if (kept != 0.0) add_(lam, ones_.narrow0(P.offset, P.groups), float(kept));
  }
}

void Greg::update(int64_t iteration) {
  std::vector<size_t> to_pick;
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& L = layers_[l];
    if (L.finished) continue;
    if (greg2() && !L.picked) {
      ++L.pick_updates;
      write_lambda(l);
      if (greg_reached(greg_lambda(L.pick_updates, c_.delta_pick), c_.ceiling_pick)) to_pick.push_back(l);
      continue;
    }
    if (c_.mode == GregMode::filter) {  // the ratio of the weights this update sees (reads them back)
      std::vector<double> score;
      if (L.stream()) {
        score = stream_class_scores(set_, L, 2);
        for (double& x : score) x = std::sqrt(x);
      } else {
        score = greg_filter_scores(set_.tensors[L.parts[0]]);
      }
      double ratio = greg_ratio(score, picks_[l]);
      L.hist = greg_hist(L.hist, ratio, !L.hist_started);
      L.hist_started = true;
    }
    ++L.updates;
    write_lambda(l);
    L.finished = greg_reached(pruned_lambda(L), c_.ceiling) ||
                 (greg2() && c_.mode == GregMode::filter && L.hist >= c_.mag_limit);
  }
  if (!to_pick.empty()) {
    select(to_pick);
    for (size_t l : to_pick) layers_[l].picked = true;
  }
  if (!greg2() && c_.mode == GregMode::filter) {
    bool all = true;
    for (const Layer& L : layers_)
      if (L.n_prune > 0) all = all && L.hist_started && L.hist >= c_.mag_limit;
    if (all)
      for (Layer& L : layers_) L.finished = true;
  }
  if (std::all_of(layers_.begin(), layers_.end(), [](const Layer& L) { return L.finished; })) {
    phase_ = Phase::stabilize;
    finish_iter_ = iteration;
  }
}

void Greg::hard_prune() {
  NoGradGuard no_grad;
  std::vector<Tensor> m;
  if (c_.mode == GregMode::filter) {
    m = filter_masks(set_, *store_, mask_, rows_, plan_.coupled);
  } else {
    for (size_t l = 0; l < set_.size(); ++l) {
      const Part& P = parts_[l];
      Tensor keep = ones_.narrow0(P.offset, P.groups).clone();
      add_(keep, select_.narrow0(P.offset, P.groups), -1.0f);
      m.push_back(keep.view(set_.tensors[l].shape()));
    }
  }
  set_masks(m);  // also zeroes the coupled tensors: apply_masks covers the whole arena
  lambda_.zero_();
  pruned_ = true;
}

std::unique_ptr<SgdBase> Greg::make_optimizer(std::shared_ptr<ParamStore> store, const SgdOptions& options) {
  base_lr_ = options.lr;
  auto opt = std::make_unique<Sgd<GregRule>>(store, options);
  const float* mask = mask_.data<float>();
  for (size_t s = 0; s < store->size(); ++s) opt->set_rule_params(s, {{nullptr, 1}, {mask + store->slot(s).offset}});
  for (size_t l = 0; l < slots_.size(); ++l)
    opt->set_rule_params(slots_[l], {{lambda_.data<float>() + parts_[l].offset, parts_[l].row_size},
                                     {mask + store->slot(slots_[l]).offset}});
  return opt;
}

float Greg::lr(const StepInfo& at, float scheduled) const {
  if (at.round == first_reg_round()) return float(c_.lr_prune);
  if (at.round > first_reg_round() && c_.finetune_lr > 0.0 && base_lr_ > 0.0f)
    return float(double(scheduled) * c_.finetune_lr / double(base_lr_));
  return scheduled;
}

void Greg::before_step(const StepInfo& at, SgdBase&) {
  if (at.round == first_reg_round() && phase_ == Phase::regularize) {
    int64_t i = at.step - reg_start_;
    if (i % c_.k_u == 0) update(i);
  }
}

void Greg::after_step(const StepInfo& at, SgdBase&) {
  if (at.round == first_reg_round() && phase_ == Phase::stabilize && !pruned_ &&
      at.step - reg_start_ == finish_iter_ + c_.k_s)
    hard_prune();
}

void Greg::end_round(const StepInfo& at, Module&, ParamStore&) {
  if (at.round == first_reg_round() && !pruned_)
    throw Error(c_.where_reg_epochs + ": the regularization round ended before the hard prune");
}

std::string Greg::phase_name() const {
  switch (phase_) {
    case Phase::pretrain: return "pretrain";
    case Phase::regularize: return "regularize";
    case Phase::stabilize: return pruned_ ? "pruned" : "stabilize";
    case Phase::finetune: return "finetune";
  }
  return "?";
}

void Greg::end_epoch(const StepInfo& at, Module& model, ParamStore& store, nlohmann::json& metrics) {
  PruningMethod::end_epoch(at, model, store, metrics);
  nlohmann::json lam = nlohmann::json::object();
  for (const Layer& L : layers_) lam[L.name] = mean_lambda(L);
  metrics["lambda"] = lam;
  metrics["greg_phase"] = phase_name();
  if (at.round == first_reg_round()) metrics["greg_iteration"] = at.step - reg_start_;
}

void Greg::set_slim_export(const std::string& folder, const nlohmann::json& model_spec) {
  slim_.folder = folder;
  slim_.spec = model_spec;
}

bool Greg::finalize(Module& model, ParamStore& store, nlohmann::json& summary) {
  bool changed = PruningMethod::finalize(model, store, summary);
  if (c_.mode == GregMode::filter) export_filter_slim(model, set_, plan_, rows_, slim_, name_, summary);
  return changed;
}

std::vector<std::pair<std::string, Tensor>> Greg::state_tensors() const {
  auto t = PruningMethod::state_tensors();
  t.push_back({"lambda", lambda_});
  t.push_back({"select", select_});
  return t;
}

nlohmann::json Greg::state_json() const {
  nlohmann::json layers = nlohmann::json::array();
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    layers.push_back({{"updates", L.updates}, {"pick_updates", L.pick_updates}, {"picked", L.picked},
                      {"finished", L.finished}, {"hist_started", L.hist_started}, {"hist_bits", bits(L.hist)}, {"rows", picks_[l]}});
  }
  return {{"phase", int(phase_)}, {"reg_start", reg_start_}, {"finish_iter", finish_iter_}, {"pruned", pruned_},
          {"layers", layers}};
}

void Greg::load_state_json(const nlohmann::json& j) {
  const nlohmann::json& layers = j.at("layers");
  if (layers.size() != layers_.size())
    throw Error(cat("greg: the checkpoint holds ", layers.size(), " layers, this run prunes ", layers_.size()));
  phase_ = Phase(j.at("phase").get<int>());
  reg_start_ = j.at("reg_start").get<int64_t>();
  finish_iter_ = j.at("finish_iter").get<int64_t>();
  pruned_ = j.at("pruned").get<bool>();
  for (size_t l = 0; l < layers_.size(); ++l) {
    const nlohmann::json& x = layers[l];
    Layer& L = layers_[l];
    L.updates = x.at("updates").get<int64_t>();
    L.pick_updates = x.at("pick_updates").get<int64_t>();
    L.picked = x.at("picked").get<bool>();
    L.finished = x.at("finished").get<bool>();
    L.hist_started = x.at("hist_started").get<bool>();
    L.hist = from_bits(x.at("hist_bits").get<uint64_t>());
    picks_[l] = x.at("rows").get<std::vector<int64_t>>();
    if (L.stream()) {
      set_rows(l);  // (select_ is restored with the state tensors; this sets it to the same)
    } else if (c_.mode == GregMode::filter) {
      rows_[L.parts[0]] = picks_[l];
    }
  }
}

}  // namespace trim
