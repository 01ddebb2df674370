#include "pruning/lats.h"

#include <set>

#include "core/autograd/grad_mode.h"

namespace trim {

void Lats::check_length(const RunLength& run) const { check_epochs(run.manifest_epochs); }

Lats::Lats(const Config& cfg) : PruningMethod("lats", cfg) {
  where_ = cfg.source() + ": " + cfg.path();
  sched_ = read_lats_settings(cfg);  // pruning/method_config.h
  if (sched_.kind == LatsSchedule::Kind::constant) d_ = sched_.final_threshold;
}

void Lats::add_parameters(Module& model, std::vector<OptimParam>& params) {
  PrunableSet set = prunable_set(model.named_parameters(), filter_);
  std::set<std::string> names(set.names.begin(), set.names.end());
  for (OptimParam& p : params)
    if (names.count(p.name)) p.master = true;  // the step updates theta and writes S_d(theta)
}

void Lats::attach(Module& model, ParamStore& store) {
  PruningMethod::attach(model, store);
  for (size_t s : slots_)
    TRIM_CHECK(store.slot(s).master.defined(),
               cat("lats: prunable parameter '", store.slot(s).param.name, "' has no master copy (add_parameters)"));
  if (sched_.kind != LatsSchedule::Kind::constant) return;
  // theta_0 = sign(w_0)(|w_0| + D), so the dense init survives the threshold D of the first forward;
  // the parameter is rewritten as S_D(theta_0) (w_0 up to rounding) to keep w = S_d(theta) exact.
  NoGradGuard no_grad;
  const float D = float(sched_.final_threshold);
  for (size_t s : slots_) {
    const ParamSlot& slot = store.slot(s);
    std::vector<float> w = slot.param.tensor.to_vector<float>(), theta(w.size());
    for (size_t i = 0; i < w.size(); ++i) {
      theta[i] = w[i] > 0.0f ? w[i] + D : (w[i] < 0.0f ? w[i] - D : w[i]);
      w[i] = soft_threshold(theta[i], D);
    }
    Tensor master = slot.master;
    master.copy_(Tensor::from_vector(master.shape(), theta, store.device()));
    Tensor param = slot.param.tensor;
    param.copy_(Tensor::from_vector(param.shape(), w, store.device()));
  }
}

void Lats::check_epochs(int64_t epochs) const {
  if (sched_.start_epoch >= epochs)
    throw Error(cat(where_, "/start_epoch: pruning from epoch ", sched_.start_epoch, " (0-based) needs more than ",
                    sched_.start_epoch, " epochs; the run has ", epochs));
}

void Lats::begin_round(const StepInfo& at, Module&, ParamStore&) { check_epochs(at.epochs); }

std::unique_ptr<SgdBase> Lats::make_optimizer(std::shared_ptr<ParamStore> store, const SgdOptions& options) {
  auto opt = std::make_unique<Sgd<LatsRule>>(store, options);
  std::set<size_t> latent(slots_.begin(), slots_.end());
  for (size_t i = 0; i < store->size(); ++i) opt->set_rule_params(i, {latent.count(i) ? 1 : 0});
  rule_ = opt->rule_handle();
  rule_->threshold = float(d_);
  optimizer_ = opt.get();
  return opt;
}

void Lats::before_step(const StepInfo& at, SgdBase& optimizer) {
  check_epochs(at.epochs);
  if (sched_.kind == LatsSchedule::Kind::exact &&
      (prefix_epochs_ != at.epochs || prefix_batches_ != at.batches_per_epoch)) {
    if (!at.schedule) throw Error(where_ + "/schedule: the exact mode needs the run's learning-rate schedule");
    lr_prefix_ = exact_lr_prefix(*at.schedule, at.epochs, at.batches_per_epoch, sched_.start_epoch);
    prefix_epochs_ = at.epochs, prefix_batches_ = at.batches_per_epoch;
  }
  // This step writes the weights of the next forward pass: the threshold after its iteration.
  int64_t done = at.epoch * at.batches_per_epoch + at.batch + 1;
  d_ = sched_.threshold(done, at.epochs, at.batches_per_epoch, lr_prefix_);
  TRIM_CHECK(rule_ && &optimizer == optimizer_, "lats: the step's optimizer is not the one make_optimizer built");
  rule_->threshold = float(d_);
}

void Lats::end_epoch(const StepInfo& at, Module& model, ParamStore& store, nlohmann::json& metrics) {
  // The mask arena holds which forward weights were nonzero at the previous epoch's end (all at
  // the start): the step never reads it; the PQ Index and these counts do.
  NoGradGuard no_grad;
  int64_t regrown = 0, newly_pruned = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    std::vector<float> w = set_.tensors[i].to_vector<float>();
    Tensor view = store.view(mask_, slots_[i]);
    std::vector<float> m = view.to_vector<float>();
    for (size_t j = 0; j < w.size(); ++j) {
      float alive = w[j] != 0.0f ? 1.0f : 0.0f;
      regrown += alive > m[j];
      newly_pruned += alive < m[j];
      m[j] = alive;
    }
    view.copy_(Tensor::from_vector(view.shape(), m, store.device()));
  }
  PruningMethod::end_epoch(at, model, store, metrics);
  metrics["threshold"] = double(float(d_));
  metrics["regrown"] = regrown;
  metrics["newly_pruned"] = newly_pruned;
}

bool Lats::deploy() {
  NoGradGuard no_grad;
  const float D = float(sched_.final_threshold);
  for (size_t i = 0; i < slots_.size(); ++i) {
    std::vector<float> theta = store_->slot(slots_[i]).master.to_vector<float>(), w(theta.size()), m(theta.size());
    for (size_t j = 0; j < theta.size(); ++j) {
      w[j] = soft_threshold(theta[j], D);
      m[j] = w[j] != 0.0f ? 1.0f : 0.0f;
    }
    Tensor param = set_.tensors[i];
    param.copy_(Tensor::from_vector(param.shape(), w, store_->device()));
    Tensor mask = store_->view(mask_, slots_[i]);
    mask.copy_(Tensor::from_vector(mask.shape(), m, store_->device()));
  }
  return true;
}

nlohmann::json Lats::state_json() const { return {{"threshold", d_}}; }

void Lats::load_state_json(const nlohmann::json& state) { d_ = state.at("threshold").get<double>(); }

}  // namespace trim
