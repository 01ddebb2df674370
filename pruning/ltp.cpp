#include "pruning/ltp.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "core/autograd/grad_mode.h"
#include "core/io/safetensors.h"
#include "core/log.h"
#include "core/ops/ops.h"
#include "layers/layers.h"
#include "pruning/ltp_math.h"
#include "pruning/ltp_op.h"
#include "pruning/magnitude.h"
#include "pruning/select.h"
#include "pruning/units.h"

namespace trim {

LearnedThreshold::LearnedThreshold(const Config& cfg) : PruningMethod("ltp", cfg) {
  LtpSettings s = read_ltp_settings(cfg);  // pruning/method_config.h
  t0_ = s.t0;
  lambda_ = s.lambda;
  lr_tau_ = s.lr_tau;
  clip_tau_ = s.clip_tau;
  finetune_epochs_ = s.finetune_epochs;
  trail_ = s.trail;
  target_ = s.target;
  top_up_enabled_ = s.top_up;
  where_lr_tau_ = cfg.source() + ": " + cfg.path() + "/lr_tau";
}

std::string LearnedThreshold::trail_file(double target) {
  return fmt::format("sparsity_{:g}.safetensors", std::round(target * 100.0 * 1e6) / 1e6);
}

void LearnedThreshold::begin_run(const RunInfo& run) {
  output_ = run.output;
  write_files_ = run.writes_files;
  base_lr_ = run.optimizer.lr;
  TRIM_CHECK(base_lr_ > 0.0f, cat("ltp: optimizer.lr must be > 0 to scale lr_tau by it, found ", base_lr_));
  // The thresholds' step scales lr_tau by scheduled lr / optimizer.lr: the scale is a float.
  const double scale = lr_tau_ / double(base_lr_);
  if (!(scale <= double(std::numeric_limits<float>::max())) || !(float(scale) > 0.0f))
    throw Error(cat(where_lr_tau_, ": lr_tau / optimizer.lr = ", scale,
                    " does not fit a 32-bit float; expected lr_tau and optimizer.lr within 1e38 of each other"));
}

void LearnedThreshold::add_parameters(Module& model, std::vector<OptimParam>& params) {
  TRIM_CHECK(base_lr_ > 0.0f, "ltp: begin_run must come before add_parameters");
  PrunableSet set = prunable_set(model.named_parameters(), filter_);
  TRIM_CHECK(set.size() > 0, "ltp: the prunable set is empty");
  tau_.clear();
  for (size_t i = 0; i < set.size(); ++i) {
    Tensor t = Tensor::zeros(Shape{1}, DType::f32, set.tensors[i].device());  // τ starts at 0 (spec)
    t.set_requires_grad(true);
    params.push_back({"ltp_tau." + set.names[i], t, false, float(lr_tau_ / double(base_lr_)), float(clip_tau_), false});
    tau_.push_back(t);
  }
}

void LearnedThreshold::attach(Module& model, ParamStore& store) {
  PruningMethod::attach(model, store);
  TRIM_CHECK(set_.size() == tau_.size(), "ltp: add_parameters and attach see different prunable sets");
  layers_.assign(set_.size(), nullptr);
  for (auto& [name, m] : model.named_modules()) {
    auto* layer = dynamic_cast<WeightedLayer*>(m);
    if (!layer) continue;
    for (size_t i = 0; i < set_.size(); ++i)
      if (layer->weight.defined() && layer->weight.raw_data() == set_.tensors[i].raw_data()) layers_[i] = layer;
  }
  for (size_t i = 0; i < set_.size(); ++i)
    TRIM_CHECK(layers_[i], cat("ltp: prunable parameter '", set_.names[i],
                               "' is not the weight of a conv or linear layer (LTP masks layer weights only)"));
  l0_.assign(set_.size(), Tensor());
  clamped_.clear();
  for (size_t i = 0; i < set_.size(); ++i) clamped_.push_back(Tensor::zeros(Shape{1}, DType::i32, tau_[i].device()));
  install_masks();
}

void LearnedThreshold::install_masks() {
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->weight_fn = [this, i](const Tensor& w) {
      Tensor temp = ltp_temperature(w.detach(), t0_);  // no gradient through T (spec's choice)
      if (!grad_enabled()) return ltp_mask(w, tau_[i], temp);
      LtpMasked r = ltp_mask_l0(w, tau_[i], temp);
      l0_[i] = r.l0;
      return r.v;
    };
  }
}

void LearnedThreshold::drop_masks() {
  for (WeightedLayer* l : layers_) l->weight_fn = nullptr;
  for (Tensor& t : l0_) t = Tensor();
}

std::vector<Tensor> LearnedThreshold::hard_masks() const {
  std::vector<Tensor> out;
  for (size_t i = 0; i < set_.size(); ++i) {
    std::vector<float> w = set_.tensors[i].to_vector<float>(), m(w.size());
    const float tau = tau_[i].item();
    for (size_t k = 0; k < w.size(); ++k) m[k] = ltp::hard_keep(w[k], tau) ? 1.0f : 0.0f;
    out.push_back(Tensor::from_vector(set_.tensors[i].shape(), m, set_.tensors[i].device()));
  }
  return out;
}

SparsityReport LearnedThreshold::current_sparsity() const {
  if (phase_ != 0) return PruningMethod::current_sparsity();
  SparsityReport r;
  for (size_t i = 0; i < set_.size(); ++i) {
    std::vector<float> w = set_.tensors[i].to_vector<float>();
    const float tau = tau_[i].item();
    LayerSparsity l;
    l.name = set_.names[i];
    l.numel = int64_t(w.size());
    for (float x : w) l.zeros += ltp::hard_keep(x, tau) ? 0 : 1;
    l.sparsity = l.numel ? double(l.zeros) / double(l.numel) : 0.0;
    r.numel += l.numel;
    r.zeros += l.zeros;
    r.layers.push_back(l);
  }
  r.sparsity = r.numel ? double(r.zeros) / double(r.numel) : 0.0;
  return r;
}

Tensor LearnedThreshold::extra_loss(const StepInfo& at) {
  if (phase_ != 0 || at.round != 0) return {};
  Tensor total;
  for (Tensor& l0 : l0_) {
    TRIM_CHECK(l0.defined(), "ltp: a prunable layer was not used by the forward pass (no soft L0)");
    total = total.defined() ? add(total, l0) : l0;
    l0 = Tensor();
  }
  return scale(total, float(lambda_ / double(set_.numel())));
}

void LearnedThreshold::check_length(const RunLength& run) const {
  // The clamp counters are 32-bit (one count per step of an epoch at most).
  TRIM_CHECK(run.batches_per_epoch <= std::numeric_limits<int32_t>::max(),
             cat("ltp: ", run.batches_per_epoch, " steps per epoch overflow the 32-bit clamp counters"));
}

void LearnedThreshold::after_step(const StepInfo&, SgdBase&) {
  // The gradients the step just used are still in the store (the next step zeroes them first).
  // With optimizer.clip_grad_norm the step clamps the norm-scaled gradient, never larger than this
  // one: the count is then an upper bound.
  if (phase_ != 0 || clip_tau_ <= 0.0) return;
  for (size_t i = 0; i < tau_.size(); ++i) ltp_count_clamped(tau_[i].grad(), float(clip_tau_), clamped_[i]);
}

void LearnedThreshold::begin_round(const StepInfo& at, Module&, ParamStore&) {
  if (at.round != 1) return;
  // Phase B: fix the hard mask, drop τ (the weight functions), top up to the target if asked
  // ("top_up": true; trim's addition, off by default).
  std::vector<Tensor> m = hard_masks();
  drop_masks();
  phase_ = 1;
  int64_t n = set_.numel(), pruned = 0;
  for (const Tensor& t : m)
    for (float x : t.to_vector<float>()) pruned += x == 0.0f;
  ltp_sparsity_ = double(pruned) / double(n);
  top_up_ = 0;
  if (target_ >= 0.0) {
    const int64_t want = count_for_sparsity(target_, n);
    if (top_up_enabled_) {
      top_up_ = std::max<int64_t>(0, want - pruned);
      if (top_up_ > 0) m = prune_units(set_, m, Scope::global, {top_up_});
    } else if (pruned < want) {
      log_warn(fmt::format("ltp: the learned thresholds prune {:.4f} of the weights, short of the target {:.4f} "
                           "(raise /pruning/lambda or lr_tau; \"top_up\": true fills the gap by magnitude)",
                           ltp_sparsity_, target_));
    }
    if (pruned > want)
      log_warn(fmt::format("ltp: the learned thresholds prune {:.4f} of the weights, past the target {:.4f} "
                           "(lower /pruning/lambda or lr_tau)", ltp_sparsity_, target_));
  }
  log_info(fmt::format("ltp: phase B starts at sparsity {:.4f} from the thresholds{}", ltp_sparsity_,
                       top_up_ > 0 ? fmt::format(", {} more pruned by magnitude to reach {:.4f}", top_up_, target_) : ""));
  set_masks(m);
}

void LearnedThreshold::end_epoch(const StepInfo& at, Module& model, ParamStore& store, nlohmann::json& metrics) {
  PruningMethod::end_epoch(at, model, store, metrics);
  if (phase_ != 0) return;
  metrics["lambda"] = lambda_;
  nlohmann::json thresholds = nlohmann::json::object(), temps = nlohmann::json::object();
  int64_t band = 0, n = 0;
  double soft = 0.0;
  for (size_t i = 0; i < set_.size(); ++i) {
    std::vector<float> w = set_.tensors[i].to_vector<float>();
    const float tau = tau_[i].item();
    const float temp = float(ltp::temperature(w.data(), int64_t(w.size()), t0_));
    thresholds[set_.names[i]] = tau;
    temps[set_.names[i]] = temp;
    for (float x : w) {
      float z = ltp::mask_arg(x, tau, temp);
      band += ltp::in_transition_band(z);
      soft += ltp::sigmoid(z);
    }
    n += int64_t(w.size());
  }
  metrics["thresholds"] = thresholds;
  metrics["temperatures"] = temps;
  metrics["transition_band"] = double(band) / double(n);
  metrics["soft_l0"] = soft / double(n);
  // The fraction of this epoch's steps whose τ gradient the clamp changed: per layer, and over
  // every (step, layer) pair. Read once here per epoch (no synchronisation per step), then zeroed.
  nlohmann::json clamped = nlohmann::json::object();
  int64_t clamped_total = 0;
  const int64_t steps = std::max<int64_t>(1, at.batches_per_epoch);
  for (size_t i = 0; i < set_.size(); ++i) {
    const int64_t c = clamped_[i].to_vector<int32_t>()[0];
    clamped[set_.names[i]] = double(c) / double(steps);
    clamped_total += c;
    clamped_[i].zero_();
  }
  metrics["tau_clamped_fraction"] = double(clamped_total) / double(steps * int64_t(set_.size()));
  metrics["tau_clamped_fraction_layers"] = clamped;

  // The hard-masked network: evaluated every epoch, written for each trail target first reached.
  const double s = metrics["sparsity"].get<double>();
  std::vector<double> due;
  for (double t : trail_) {
    bool done = std::any_of(reached_.begin(), reached_.end(), [&](const LtpTrailPoint& p) { return p.target == t; });
    if (!done && s >= t) due.push_back(t);
  }
  if (!at.evaluate && due.empty()) return;
  NoGradGuard no_grad;
  Tensor saved = store.params().clone();
  std::vector<Tensor> m = hard_masks();
  for (size_t i = 0; i < set_.size(); ++i) set_.tensors[i].copy_(mul(set_.tensors[i], m[i]));
  drop_masks();
  double acc = at.evaluate ? at.evaluate() : -1.0;
  if (at.evaluate) metrics["hard_test_accuracy"] = acc;
  nlohmann::json reached = nlohmann::json::array();
  for (double t : due) {
    LtpTrailPoint p{t, at.epoch, s, acc, "trail/" + trail_file(t)};
    if (write_files_) {
      std::filesystem::create_directories(output_ + "/trail");
      std::vector<NamedTensor> tensors;
      for (const auto& [key, value] : model.state_dict()) tensors.push_back({key, value});
      save_safetensors(output_ + "/" + p.file, tensors,
                       {{"trim.method", name()}, {"trim.ltp.target", fmt::format("{}", t)},
                        {"trim.ltp.sparsity", fmt::format("{}", s)}, {"trim.ltp.test_accuracy", fmt::format("{}", acc)}});
    }
    reached_.push_back(p);
    reached.push_back({{"target", t}, {"sparsity", s}, {"test_accuracy", acc}, {"file", p.file}});
  }
  if (!reached.empty()) metrics["trail_reached"] = reached;
  Tensor params = store.params();
  params.copy_(saved);
  install_masks();
}

bool LearnedThreshold::finalize(Module& model, ParamStore& store, nlohmann::json& summary) {
  bool changed = PruningMethod::finalize(model, store, summary);
  nlohmann::json trail = nlohmann::json::array();
  for (const LtpTrailPoint& p : reached_)
    trail.push_back({{"target", p.target}, {"epoch", p.epoch}, {"sparsity", p.sparsity},
                     {"test_accuracy", p.test_accuracy}, {"file", p.file}});
  summary["trail"] = trail;
  nlohmann::json thresholds = nlohmann::json::object();
  for (size_t i = 0; i < set_.size(); ++i) thresholds[set_.names[i]] = tau_[i].item();
  summary["thresholds"] = thresholds;
  summary["ltp_sparsity"] = ltp_sparsity_;
  summary["top_up"] = top_up_enabled_;
  summary["top_up_pruned"] = top_up_;
  return changed;
}

std::vector<std::pair<std::string, Tensor>> LearnedThreshold::state_tensors() const {
  auto out = PruningMethod::state_tensors();
  for (size_t i = 0; i < tau_.size(); ++i) out.push_back({"tau." + set_.names[i], tau_[i]});
  return out;
}

nlohmann::json LearnedThreshold::state_json() const {
  nlohmann::json trail = nlohmann::json::array();
  for (const LtpTrailPoint& p : reached_)
    trail.push_back({{"target", p.target}, {"epoch", p.epoch}, {"sparsity", p.sparsity},
                     {"test_accuracy", p.test_accuracy}, {"file", p.file}});
  // The clamp counts of the epoch in progress, so that a run resumed mid-epoch logs the same fractions.
  std::vector<int64_t> clamped;
  for (const Tensor& c : clamped_) clamped.push_back(c.to_vector<int32_t>()[0]);
  return {{"phase", phase_},
          {"trail", trail},
          {"ltp_sparsity", ltp_sparsity_},
          {"top_up_pruned", top_up_},
          {"top_up", top_up_enabled_},
          {"tau_clamped_steps", clamped}};
}

void LearnedThreshold::load_state_json(const nlohmann::json& j) {
  phase_ = j.at("phase").get<int64_t>();
  TRIM_CHECK(phase_ == 0 || phase_ == 1, cat("ltp: checkpoint phase must be 0 or 1, found ", phase_));
  reached_.clear();
  for (const nlohmann::json& p : j.at("trail"))
    reached_.push_back({p.at("target").get<double>(), p.at("epoch").get<int64_t>(), p.at("sparsity").get<double>(),
                        p.at("test_accuracy").get<double>(), p.at("file").get<std::string>()});
  ltp_sparsity_ = j.at("ltp_sparsity").get<double>();
  top_up_ = j.at("top_up_pruned").get<int64_t>();
  // A checkpoint written before top_up was a setting (no "top_up" in it) comes from a run whose
  // target implied the top-up: it finishes as it started.
  if (!j.contains("top_up") && target_ >= 0.0 && !top_up_enabled_) {
    top_up_enabled_ = true;
    log_info("ltp: the checkpoint predates the \"top_up\" setting; its target implied the magnitude top-up, which stays on");
  }
  // Checkpoints written before the clamp was counted lack the counts: the epoch in progress then
  // counts its steps from the resume on.
  if (j.contains("tau_clamped_steps")) {
    const nlohmann::json& c = j.at("tau_clamped_steps");
    TRIM_CHECK(c.is_array() && c.size() == clamped_.size(),
               cat("ltp: checkpoint tau_clamped_steps must list ", clamped_.size(), " counts, found ", c.dump()));
    for (size_t i = 0; i < clamped_.size(); ++i) {
      TRIM_CHECK(c[i].is_number_integer(), cat("ltp: checkpoint tau_clamped_steps[", i, "] must be an integer, found ", c[i].dump()));
      const int64_t v = c[i].get<int64_t>();
      TRIM_CHECK(v >= 0 && v <= std::numeric_limits<int32_t>::max(), cat("ltp: checkpoint tau_clamped_steps[", i, "] out of range: ", v));
      clamped_[i].copy_(Tensor::from_vector(Shape{1}, std::vector<int32_t>{int32_t(v)}, clamped_[i].device()));
    }
  }
  if (phase_ == 1) drop_masks();
}

}  // namespace trim
