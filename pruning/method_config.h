#pragma once
// The settings of every pruning method: the manifest's "pruning" object read and checked, key by
// key and bound by bound, by plain functions that build nothing. The methods' constructors read
// their section through them, and so does the manifest fuzz target (test/fuzz/), which thereby
// drives every app's pruning section without tensors or models. Each bound is documented in its
// method's header (magnitude.h, random.h, rewind.h, lats.h, ltp.h, greg.h, l1_filter.h; the shared keys in
// pruning_method.h). Checks that need the model or the run's length come later (attach,
// TrainingMethod::check_length).
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "pruning/greg_config.h"
#include "pruning/lats_schedule.h"
#include "pruning/prunable.h"
#include "pruning/sap_amount.h"
#include "pruning/units.h"

namespace trim {

// The keys every method shares: "include", "exclude" (name patterns) and "pqi" {p, q}.
struct CommonSettings {
  PrunableFilter filter;
  double pqi_p = 0.5, pqi_q = 1.0;
};
CommonSettings read_common_settings(const Config& cfg);

// A list of glob patterns at cfg[key] (absent: none), each named by its JSON path.
std::vector<NamePattern> read_patterns(const Config& cfg, const std::string& key);
// A target sparsity in [0, 1) at cfg[key].
double read_target(const Config& cfg, const std::string& key);

// "omp" and "random": prune once to `target`, then fine-tune (0 epochs: train.epochs).
struct OneShotSettings {
  double target = 0.0;
  Scope scope = Scope::global;
  int64_t finetune_epochs = 0;
};
// omp and random share one reader; only their default scopes differ.
constexpr Scope kOmpScope = Scope::global;
constexpr Scope kRandomScope = Scope::layer;
OneShotSettings read_one_shot_settings(const Config& cfg, Scope default_scope);

// "gmp": Zhu & Gupta's cubic schedule over steps t0, t0 + dt, ..., t0 + n dt.
struct GmpSettings {
  double initial = 0.0, target = 0.0;
  int64_t t0 = 0, dt = 1, n = 1;
  Scope scope = Scope::layer;
};
GmpSettings read_gmp_settings(const Config& cfg);

// "lottery", "os_sap", "sap": train-prune-rewind rounds; SAP's amount (sap only).
struct RewindSettings {
  int64_t rounds = 1;
  Scope scope = Scope::global;
  double target = -1.0;  // < 0: none
  int64_t rewind_step = 0;  // the rewind point: the weights after this many steps of round 0
};
RewindSettings read_rewind_settings(const Config& cfg);
// "lottery" and "os_sap": the fraction of each unit's unpruned entries pruned per round (`rate`,
// default 0.2), as a numerator over kLotteryRateDen so the counts stay in integers.
constexpr int64_t kLotteryRateDen = 10000;
int64_t read_lottery_rate(const Config& cfg);
SapAmount read_sap_amount(const Config& cfg);

// "l1_filter": GReg's ratio keys, pretraining, fine-tuning (pruning/l1_filter.h).
struct L1FilterSettings {
  UnitRatios ratios;
  int64_t pretrain_epochs = 0, finetune_epochs = 0;
  double finetune_lr = 0.0;
};
L1FilterSettings read_l1_filter_settings(const Config& cfg);

// "lats": the threshold schedule.
LatsSchedule read_lats_settings(const Config& cfg);

// "ltp": temperature, L0 weight, the thresholds' lr and clamp, phase B, the optional magnitude
// top-up to `target` (top_up: off unless asked; it needs a target) and the trail.
struct LtpSettings {
  double t0 = 0.0, lambda = 0.0, lr_tau = 0.0, clip_tau = 0.0, target = -1.0;  // target -1: none
  bool top_up = false;
  int64_t finetune_epochs = 0;
  std::vector<double> trail;  // sorted
};
LtpSettings read_ltp_settings(const Config& cfg);

// Reads a whole "pruning" section as the method named by its "method" key reads it (the shared
// keys included); the caller's cfg.finish() then refuses unknown keys. Throws trim::Error for an
// unknown method name or a bad value, naming the JSON path.
void read_pruning_settings(const Config& cfg);
// The method names read_pruning_settings knows (the registry's: a unit test keeps them equal).
std::vector<std::string> pruning_settings_names();

}  // namespace trim
