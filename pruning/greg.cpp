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

namespace trim {

// --- schedule math ---------------------------------------------------------------------------

double greg_lambda(int64_t updates, double delta) { return double(updates) * delta; }

int64_t greg_updates_by(int64_t i, int64_t k_u) { return i / k_u + 1; }

bool greg_reached(double lambda, double ceiling) { return lambda >= ceiling * (1.0 - 1e-12); }

int64_t greg_updates_to_reach(double from, double delta, double ceiling) {
  int64_t n = int64_t(std::max(1.0, std::floor((ceiling - from) / delta) - 1.0));
  while (n > 1 && greg_reached(from + greg_lambda(n - 1, delta), ceiling)) --n;
  while (!greg_reached(from + greg_lambda(n, delta), ceiling)) ++n;
  return n;
}

double greg1_lambda_at(int64_t i, int64_t k_u, double delta) { return greg_lambda(greg_updates_by(i, k_u), delta); }

double greg2_lambda_at(int64_t i, int64_t k_u, double delta_pick, double ceiling_pick, double delta) {
  int64_t u = greg_updates_by(i, k_u), pick = greg_updates_to_reach(0.0, delta_pick, ceiling_pick);
  if (u <= pick) return greg_lambda(u, delta_pick);
  return greg_lambda(pick, delta_pick) + greg_lambda(u - pick, delta);
}

double greg_hist(double hist, double ratio, bool first) { return first ? ratio : 0.9 * hist + 0.1 * ratio; }

double greg_ratio(const std::vector<double>& scores, const std::vector<int64_t>& pruned) {
  double kept = 0.0, gone = 0.0;
  size_t p = 0;
  for (size_t j = 0; j < scores.size(); ++j) {
    if (p < pruned.size() && pruned[p] == int64_t(j)) {
      gone += scores[j], ++p;
    } else {
      kept += scores[j];
    }
  }
  size_t n_kept = scores.size() - pruned.size();
  if (pruned.empty() || n_kept == 0) return 0.0;
  double mk = kept / double(n_kept), mp = gone / double(pruned.size());
  return mp > 0.0 ? mk / mp : std::numeric_limits<double>::infinity();
}

std::vector<double> greg_shrink(const std::vector<double>& h, double delta) {
  std::vector<double> out;
  for (double x : h) out.push_back(1.0 / (1.0 + delta / x));
  return out;
}

std::vector<double> greg_filter_scores(const Tensor& w) {
  std::vector<double> s = filter_l1(w);
  double row = double(w.numel() / w.shape()[0]);
  for (double& x : s) x /= row;
  return s;
}

// --- the method ------------------------------------------------------------------------------

namespace {

double read_ratio(const Config& cfg, const std::string& key) {
  double r = cfg.get<double>(key);
  if (!(r >= 0.0 && r <= 1.0)) cfg.fail(key, "a layer pruning ratio must be in [0, 1], found " + std::to_string(r));
  return r;
}

double read_positive(const Config& cfg, const std::string& key, double fallback) {
  double v = cfg.get<double>(key, fallback);
  if (!(v > 0.0) || !std::isfinite(v)) cfg.fail(key, "must be a finite number > 0, found " + std::to_string(v));
  return v;
}

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

Greg::Greg(std::string name, const Config& cfg) : PruningMethod(std::move(name), cfg) {
  std::string mode = cfg.choice("mode", {"filter", "unstructured"}, "filter");
  mode_ = mode == "filter" ? GregMode::filter : GregMode::unstructured;
  ratio_ = read_ratio(cfg, "ratio");
  if (cfg.has("layer_ratios")) {
    cfg.accept("layer_ratios");
    const nlohmann::json& list = cfg.json()["layer_ratios"];
    if (!list.is_array()) cfg.fail("layer_ratios", "expected an array of {\"pattern\", \"ratio\"}, found " + describe_json(list));
    for (size_t i = 0; i < list.size(); ++i) {
      Config item(list[i], cfg.source(), cfg.path() + "/layer_ratios/" + std::to_string(i));
      if (!list[i].is_object()) throw Error(item.source() + ": " + item.path() + ": expected an object, found " + describe_json(list[i]));
      std::string glob = item.get<std::string>("pattern");
      if (glob.empty()) item.fail("pattern", "expected a non-empty name pattern");
      double r = read_ratio(item, "ratio");
      item.finish();
      layer_ratios_.push_back({{glob, item.source() + ": " + item.path() + "/pattern"}, r});
    }
  }
  delta_ = read_positive(cfg, "reg_granularity_prune", 1e-4);
  ceiling_ = read_positive(cfg, "reg_upper_limit", 1.0);
  if (greg2()) {  // GReg-1 has no picking phase: these keys stay unknown to it
    delta_pick_ = read_positive(cfg, "reg_granularity_pick", 1e-5);
    ceiling_pick_ = read_positive(cfg, "reg_upper_limit_pick", 1e-2);
    recover_ = cfg.get<double>("reg_granularity_recover", -1e-4);
    if (!(recover_ <= 0.0) || !std::isfinite(recover_))
      cfg.fail("reg_granularity_recover", "the kept groups' lambda must be <= 0, found " + std::to_string(recover_));
    if (!(ceiling_pick_ < ceiling_))
      cfg.fail("reg_upper_limit_pick", "must be below reg_upper_limit (" + std::to_string(ceiling_) + ")");
  } else {
    delta_pick_ = ceiling_pick_ = recover_ = 0.0;
  }
  mag_limit_ = read_positive(cfg, "mag_ratio_limit", 1000.0);
  k_u_ = cfg.get<int64_t>("update_interval", 10);
  if (k_u_ < 1) cfg.fail("update_interval", "must be >= 1 (iterations between lambda updates)");
  k_s_ = cfg.get<int64_t>("stabilize_iterations", 10000);
  if (k_s_ < 0) cfg.fail("stabilize_iterations", "must be >= 0");
  lr_prune_ = read_positive(cfg, "lr_prune", 1e-3);
  pretrain_epochs_ = cfg.get<int64_t>("pretrain_epochs", 0);
  if (pretrain_epochs_ < 0) cfg.fail("pretrain_epochs", "must be >= 0 (0: no pretraining round)");
  init_from_ = cfg.get<std::string>("init_from", "");
  where_ = cfg.source() + ": " + cfg.path();
  where_init_ = where_ + "/init_from";
  // Pitfall #2 of the spec: GReg on random weights runs without complaint and means nothing.
  if (pretrain_epochs_ == 0 && init_from_.empty())
    cfg.fail("pretrain_epochs", "GReg prunes a trained network: set pretrain_epochs > 0 or init_from (a model.safetensors)");
  if (pretrain_epochs_ > 0 && !init_from_.empty())
    cfg.fail("init_from", "give either init_from or pretrain_epochs, not both");
  reg_epochs_ = cfg.get<int64_t>("reg_epochs");
  if (reg_epochs_ < 1) cfg.fail("reg_epochs", "must be >= 1");
  where_reg_epochs_ = cfg.source() + ": " + cfg.path() + "/reg_epochs";
  finetune_epochs_ = cfg.get<int64_t>("finetune_epochs", 0);
  if (finetune_epochs_ < 0) cfg.fail("finetune_epochs", "must be >= 1 (0 or absent: train.epochs)");
  finetune_lr_ = cfg.get<double>("finetune_lr", 0.0);
  if (!(finetune_lr_ >= 0.0) || !std::isfinite(finetune_lr_))
    cfg.fail("finetune_lr", "must be >= 0 (0 or absent: the manifest's optimizer.lr)");
}

int64_t Greg::round_epochs(int64_t round, int64_t manifest_epochs) const {
  if (round < first_reg_round()) return pretrain_epochs_;
  if (round == first_reg_round()) return reg_epochs_;
  return finetune_epochs_ > 0 ? finetune_epochs_ : manifest_epochs;
}

void Greg::attach(Module& model, ParamStore& store) {
  if (!init_from_.empty()) {  // before the base reads anything; a resumed run's checkpoint overrides it
    SafetensorsFile f = [&] {
      try {
        return load_safetensors(init_from_);
      } catch (const Error& e) {
        throw Error(where_init_ + ": " + e.what());
      }
    }();
    std::vector<std::pair<std::string, Tensor>> st;
    for (const NamedTensor& t : f.tensors) st.emplace_back(t.name, t.tensor);
    model.load_state_dict(st, where_init_ + " (" + init_from_ + ")");
  }
  PruningMethod::attach(model, store);
  layers_.assign(set_.size(), {});
  rows_.assign(set_.size(), {});
  coupled_.assign(set_.size(), {});
  std::vector<bool> used(layer_ratios_.size(), false);
  int64_t offset = 0;
  for (size_t l = 0; l < set_.size(); ++l) {
    const Tensor& w = set_.tensors[l];
    Layer& L = layers_[l];
    if (mode_ == GregMode::filter && w.ndim() < 2)
      throw Error("greg: filter mode needs weights of 2 or more dimensions; " + set_.names[l] + " has " + w.shape().str());
    L.groups = mode_ == GregMode::filter ? w.shape()[0] : w.numel();
    L.row_size = w.numel() / L.groups;
    L.ratio = ratio_;
    for (size_t p = 0; p < layer_ratios_.size(); ++p)
      if (glob_match(layer_ratios_[p].first.glob, set_.names[l])) {
        L.ratio = layer_ratios_[p].second, used[p] = true;
        break;
      }
    L.n_prune = filter_prune_count(L.ratio, L.groups);
    L.finished = L.n_prune == 0;
    L.offset = offset;
    offset += L.groups;
  }
  for (size_t p = 0; p < used.size(); ++p)
    if (!used[p]) throw Error(layer_ratios_[p].first.where + ": \"" + layer_ratios_[p].first.glob + "\" matches no prunable weight");
  Device dev = store.device();
  lambda_ = Tensor::zeros(Shape{std::max<int64_t>(offset, 1)}, DType::f32, dev);
  select_ = Tensor::zeros(Shape{std::max<int64_t>(offset, 1)}, DType::f32, dev);
  ones_ = Tensor::full(Shape{std::max<int64_t>(offset, 1)}, 1.0f, DType::f32, dev);
  if (mode_ != GregMode::filter) return;
  // Filter mode: a filter's bias, BN channel and depthwise filter are removed with it, so they are
  // masked with it (layers/channels.h describes which tensors those are).
  const ChannelCoupled* coupled = dynamic_cast<const ChannelCoupled*>(&model);
  if (!coupled) {
    log_warn("greg: filter mode on a model that does not describe its channel coupling: only the filters "
             "themselves are masked, and no physically slimmed model is written");
    return;
  }
  const std::vector<ChannelGroup>& groups = coupled->channel_groups();
  for (size_t l = 0; l < set_.size(); ++l) {
    if (layers_[l].n_prune == 0) continue;
    const ChannelGroup* g = filter_group(groups, set_.names[l]);
    if (!g)
      throw Error(where_ + ": greg filter mode would remove output channels of " + set_.names[l] +
                  ", which are the model's outputs or feed a residual add; exclude it (/pruning/exclude) or give it "
                  "ratio 0 (/pruning/layer_ratios)");
    for (const std::string& o : channel_rows(model, *g)) {
      int s = store.find(o);
      if (s >= 0 && o != set_.names[l]) coupled_[l].push_back(size_t(s));  // buffers (BN statistics) are not in the store
    }
  }
  slim_ok_ = true;
}

double Greg::pruned_lambda(const Layer& l) const {
  if (pruned_) return 0.0;
  double pick = greg2() ? greg_lambda(l.pick_updates, delta_pick_) : 0.0;
  return pick + greg_lambda(l.updates, delta_);
}

double Greg::mean_lambda(const Layer& l) const {
  if (pruned_ || l.groups == 0) return 0.0;
  if (greg2() && !l.picked) return greg_lambda(l.pick_updates, delta_pick_);
  double kept = greg2() && l.updates > 0 ? recover_ : 0.0;
  return (pruned_lambda(l) * double(l.n_prune) + kept * double(l.groups - l.n_prune)) / double(l.groups);
}

int64_t Greg::worst_case_iterations() const {
  bool any = std::any_of(layers_.begin(), layers_.end(), [](const Layer& l) { return l.n_prune > 0; });
  if (!any) return k_s_;
  int64_t updates;
  if (greg2()) {
    int64_t pick = greg_updates_to_reach(0.0, delta_pick_, ceiling_pick_);
    updates = pick + greg_updates_to_reach(greg_lambda(pick, delta_pick_), delta_, ceiling_);
  } else {
    updates = greg_updates_to_reach(0.0, delta_, ceiling_);
  }
  return (updates - 1) * k_u_ + k_s_ + 1;
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
  int64_t need = worst_case_iterations(), have = reg_epochs_ * at.batches_per_epoch;
  if (have < need)
    throw Error(cat(where_reg_epochs_, ": ", reg_epochs_, " epochs of ", at.batches_per_epoch, " batches give ", have,
                    " iterations; the regularization may need ", need, " (every layer stopping at its lambda ceiling, then ",
                    k_s_, " stabilization iterations): set reg_epochs to at least ",
                    (need + at.batches_per_epoch - 1) / at.batches_per_epoch));
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
    if (k_s_ == 0) hard_prune();
  }
}

void Greg::select(const std::vector<size_t>& which) {
  NoGradGuard no_grad;
  std::vector<int64_t> k(layers_.size(), 0);
  for (size_t l : which) k[l] = layers_[l].n_prune;
  if (mode_ == GregMode::filter) {
    FilterSelection s = select_filters(set_, k);
    for (size_t l : which) {
      rows_[l] = s.pruned[l];
      std::vector<float> sel(size_t(layers_[l].groups), 0.0f);
      for (int64_t r : rows_[l]) sel[size_t(r)] = 1.0f;
      select_.narrow0(layers_[l].offset, layers_[l].groups).copy_(Tensor::from_vector(Shape{layers_[l].groups}, sel, select_.device()));
    }
  } else {
    std::vector<Tensor> m = select_per_layer(set_, {}, k);
    for (size_t l : which) {
      Tensor sel = select_.narrow0(layers_[l].offset, layers_[l].groups);
      sel.copy_(ones_.narrow0(layers_[l].offset, layers_[l].groups));
      add_(sel, m[l].view(Shape{layers_[l].groups}), -1.0f);
    }
  }
}

void Greg::write_lambda(size_t l) {
  NoGradGuard no_grad;
  const Layer& L = layers_[l];
  Tensor lam = lambda_.narrow0(L.offset, L.groups);
  if (greg2() && !L.picked) {
    lam.fill_(float(greg_lambda(L.pick_updates, delta_pick_)));
    return;
  }
  Tensor sel = select_.narrow0(L.offset, L.groups);
  double kept = greg2() ? recover_ : 0.0;
  lam.copy_(scale(sel, float(pruned_lambda(L) - kept)));
  if (kept != 0.0) add_(lam, ones_.narrow0(L.offset, L.groups), float(kept));
}

void Greg::update(int64_t iteration) {
  std::vector<size_t> to_pick;
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& L = layers_[l];
    if (L.finished) continue;
    if (greg2() && !L.picked) {
      ++L.pick_updates;
      write_lambda(l);
      if (greg_reached(greg_lambda(L.pick_updates, delta_pick_), ceiling_pick_)) to_pick.push_back(l);
      continue;
    }
    if (mode_ == GregMode::filter) {  // the ratio of the weights this update sees (reads them back)
      double ratio = greg_ratio(greg_filter_scores(set_.tensors[l]), rows_[l]);
      L.hist = greg_hist(L.hist, ratio, !L.hist_started);
      L.hist_started = true;
    }
    ++L.updates;
    write_lambda(l);
    L.finished = greg_reached(pruned_lambda(L), ceiling_) ||
                 (greg2() && mode_ == GregMode::filter && L.hist >= mag_limit_);
  }
  if (!to_pick.empty()) {
    select(to_pick);
    for (size_t l : to_pick) layers_[l].picked = true;
  }
  if (!greg2() && mode_ == GregMode::filter) {
    bool all = true;
    for (const Layer& L : layers_)
      if (L.n_prune > 0) all = all && L.hist_started && L.hist >= mag_limit_;
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
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    const Tensor& w = set_.tensors[l];
    if (mode_ == GregMode::filter) {
      std::vector<float> host(size_t(w.numel()), 1.0f), channel(size_t(L.groups), 1.0f);
      for (int64_t r : rows_[l]) {
        std::fill(host.begin() + r * L.row_size, host.begin() + (r + 1) * L.row_size, 0.0f);
        channel[size_t(r)] = 0.0f;
      }
      m.push_back(Tensor::from_vector(w.shape(), host, w.device()));
      for (size_t s : coupled_[l]) {  // dim 0 of each coupled tensor is this layer's channels
        Tensor target = store_->view(mask_, s);
        int64_t row = target.numel() / L.groups;
        std::vector<float> rows(size_t(target.numel()));
        for (int64_t r = 0; r < L.groups; ++r) std::fill_n(rows.begin() + r * row, row, channel[size_t(r)]);
        target.copy_(Tensor::from_vector(target.shape(), rows, w.device()));
      }
    } else {
      Tensor keep = ones_.narrow0(L.offset, L.groups).clone();
      add_(keep, select_.narrow0(L.offset, L.groups), -1.0f);
      m.push_back(keep.view(w.shape()));
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
  for (size_t s = 0; s < store->size(); ++s) opt->set_rule_params(s, {nullptr, mask + store->slot(s).offset, 1});
  for (size_t l = 0; l < slots_.size(); ++l)
    opt->set_rule_params(slots_[l], {lambda_.data<float>() + layers_[l].offset, mask + store->slot(slots_[l]).offset,
                                     layers_[l].row_size});
  return opt;
}

float Greg::lr(const StepInfo& at, float scheduled) const {
  if (at.round == first_reg_round()) return float(lr_prune_);
  if (at.round > first_reg_round() && finetune_lr_ > 0.0 && base_lr_ > 0.0f)
    return float(double(scheduled) * finetune_lr_ / double(base_lr_));
  return scheduled;
}

void Greg::before_step(const StepInfo& at, SgdBase&) {
  if (at.round == first_reg_round() && phase_ == Phase::regularize) {
    int64_t i = at.step - reg_start_;
    if (i % k_u_ == 0) update(i);
  }
}

void Greg::after_step(const StepInfo& at, SgdBase&) {
  if (at.round == first_reg_round() && phase_ == Phase::stabilize && !pruned_ &&
      at.step - reg_start_ == finish_iter_ + k_s_)
    hard_prune();
}

void Greg::end_round(const StepInfo& at, Module&, ParamStore&) {
  if (at.round == first_reg_round() && !pruned_)
    throw Error(where_reg_epochs_ + ": the regularization round ended before the hard prune");
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
  for (size_t l = 0; l < layers_.size(); ++l) lam[set_.names[l]] = mean_lambda(layers_[l]);
  metrics["lambda"] = lam;
  metrics["greg_phase"] = phase_name();
  if (at.round == first_reg_round()) metrics["greg_iteration"] = at.step - reg_start_;
}

void Greg::set_slim_export(const std::string& folder, const nlohmann::json& model_spec) {
  slim_folder_ = folder;
  slim_spec_ = model_spec;
}

bool Greg::finalize(Module& model, ParamStore& store, nlohmann::json& summary) {
  bool changed = PruningMethod::finalize(model, store, summary);
  if (mode_ != GregMode::filter) return changed;
  nlohmann::json removed = nlohmann::json::object();
  std::map<std::string, std::vector<int64_t>> pruned;
  for (size_t l = 0; l < layers_.size(); ++l) {
    removed[set_.names[l]] = int64_t(rows_[l].size());
    if (!rows_[l].empty()) pruned[set_.names[l]] = rows_[l];
  }
  summary["removed_filters"] = removed;
  if (slim_folder_.empty()) return changed;
  if (!slim_ok_) {
    log_warn("greg: no physically slimmed model for this model (see the warning at start)");
    return changed;
  }
  std::vector<std::pair<std::string, Tensor>> slim = slim_state_dict(model, pruned);
  nlohmann::json spec = slim_model_spec(model, slim_spec_, pruned);
  std::vector<NamedTensor> tensors;
  int64_t params = 0;
  std::map<std::string, bool> is_param;
  for (const NamedParameter& p : model.named_parameters()) is_param[p.name] = true;
  for (const auto& [name, t] : slim) {
    tensors.push_back({name, t});
    if (is_param.count(name)) params += t.numel();
  }
  if (write_files_) {
    save_safetensors(slim_folder_ + "/model_slim.safetensors", tensors,
                     {{"trim.method", name_}, {"trim.model", spec.dump()}});
    write_file_atomic(slim_folder_ + "/model_slim.json", spec.dump(2) + "\n");
  }
  summary["slim_model"] = spec;
  summary["slim_parameters"] = params;
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
                      {"finished", L.finished}, {"hist_started", L.hist_started}, {"hist_bits", bits(L.hist)}, {"rows", rows_[l]}});
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
    rows_[l] = x.at("rows").get<std::vector<int64_t>>();
  }
}

}  // namespace trim
