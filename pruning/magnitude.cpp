#include "pruning/magnitude.h"

#include <cmath>

#include "pruning/select.h"

namespace trim {

// Counts that bring each unit to sparsity s (never below what is pruned already).
static std::vector<int64_t> counts_to(const PrunableSet& set, const std::vector<Tensor>& masks, Scope scope, double s) {
  std::vector<int64_t> size = unit_sizes(set, scope), alive = unit_unpruned(set, masks, scope), k;
  for (size_t u = 0; u < size.size(); ++u) {
    int64_t pruned = size[u] - alive[u];
    k.push_back(std::max<int64_t>(0, count_for_sparsity(s, size[u]) - pruned));
  }
  return k;
}

OneShotMagnitude::OneShotMagnitude(const Config& cfg) : PruningMethod("omp", cfg) {
  OneShotSettings s = read_one_shot_settings(cfg, kOmpScope);  // pruning/method_config.h
  target_ = s.target;
  scope_ = s.scope;
  finetune_epochs_ = s.finetune_epochs;
}

void OneShotMagnitude::begin_round(const StepInfo& at, Module&, ParamStore&) {
  if (at.round != 1) return;
  std::vector<Tensor> m = masks();
  set_masks(prune_units(set_, m, scope_, counts_to(set_, m, scope_, target_)));
}

double gmp_target_in_force(double s_i, double s_f, int64_t t0, int64_t dt, int64_t n, int64_t t) {
  if (t < t0) return 0.0;  // no pruning event yet: the masks hold nothing
  const int64_t last_event = t0 + std::min(n, (t - t0) / dt) * dt;
  return gmp_sparsity(s_i, s_f, t0, dt, n, last_event);
}

double gmp_sparsity(double s_i, double s_f, int64_t t0, int64_t dt, int64_t n, int64_t t) {
  if (t <= t0) return s_i;
  double x = std::min(1.0, double(t - t0) / double(n * dt));
  double r = 1.0 - x;
  return s_f + (s_i - s_f) * r * r * r;
}

GradualMagnitude::GradualMagnitude(const Config& cfg) : PruningMethod("gmp", cfg) {
  GmpSettings s = read_gmp_settings(cfg);  // pruning/method_config.h
  initial_ = s.initial;
  target_ = s.target;
  t0_ = s.t0;
  dt_ = s.dt;
  n_ = s.n;
  scope_ = s.scope;
  where_ = cfg.source() + ": " + cfg.path();
}

void GradualMagnitude::check_length(const RunLength& run) const {
  const int64_t steps = run.manifest_epochs * run.batches_per_epoch;  // both bounded: no overflow
  const int64_t last = t0_ + n_ * dt_;  // bounded by kMaxMethodSteps when read
  if (last <= steps - 1) return;
  const std::string why = cat("the run trains ", steps, " steps (", run.manifest_epochs, " epochs of ",
                              run.batches_per_epoch, " batches, steps 0..", steps - 1, ")");
  if (t0_ > steps - 1)
    throw Error(cat(where_, "/start_step: the schedule starts at step ", t0_, ", but ", why,
                    ": it would never prune; expected start_step + events * interval_steps <= ", steps - 1));
  throw Error(cat(where_, "/events: the schedule's last event (start_step ", t0_, " + events ", n_,
                  " x interval_steps ", dt_, " = step ", last, ") comes after the run's end: ", why,
                  ", so the sparsity would stop short of the target ", target_,
                  "; expected start_step + events * interval_steps <= ", steps - 1));
}

void GradualMagnitude::after_step(const StepInfo& at, SgdBase&) {
  int64_t t = at.step;  // this update's index
  if (t < t0_ || t > t0_ + n_ * dt_ || (t - t0_) % dt_ != 0) return;
  double s = gmp_sparsity(initial_, target_, t0_, dt_, n_, t);
  std::vector<Tensor> m = masks();
  std::vector<int64_t> k = counts_to(set_, m, scope_, s);
  bool any = false;
  for (int64_t c : k) any = any || c > 0;
  if (any) set_masks(prune_units(set_, m, scope_, k));
}

void GradualMagnitude::end_epoch(const StepInfo& at, Module& model, ParamStore& store, nlohmann::json& metrics) {
  PruningMethod::end_epoch(at, model, store, metrics);
  // The target the masks hold (its last pruning event), and the smooth curve at the epoch's end.
  metrics["target_sparsity"] = gmp_target_in_force(initial_, target_, t0_, dt_, n_, at.step - 1);
  metrics["target_sparsity_curve"] = gmp_sparsity(initial_, target_, t0_, dt_, n_, at.step - 1);
}

}  // namespace trim
