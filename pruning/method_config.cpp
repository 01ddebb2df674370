#include "pruning/method_config.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "core/error.h"
#include "pruning/greg_config.h"
#include "pruning/pruning_method.h"

namespace trim {
namespace {

// LATS (lats.h): D far above any trained weight's magnitude, PGH's base with ln b small. D is also
// used as a float (the constant schedule's start), so its lower end is a positive float.
constexpr Config::Interval kFinalThreshold{1e-30, 100.0};
constexpr Config::Interval kPghBeta{1e-6, 1e6};
// SAP (rewind.h): the paper's values times 10 or more (pruning/README.md#sap: eta 0-1, gamma 1-9).
constexpr Config::Interval kSapEta{0.0, 100.0};
constexpr Config::Interval kSapGamma{0.0, 100.0};
constexpr int64_t kMaxRounds = 1000;  // SAP's papers: 15-30

// An LTP setting of the spec's "no default" kind, in `range`.
double read_required(const Config& cfg, const std::string& key, const Config::Interval& range, const char* what) {
  if (!cfg.has(key))
    cfg.fail(key, cat("required key is missing (", what, "; pruning/README.md#ltp gives it no default: sweep it)"));
  return cfg.real_in(key, range);
}

std::vector<double> read_trail(const Config& cfg, const std::string& key) {
  std::vector<double> out;
  if (!cfg.has(key)) return out;
  cfg.accept(key);
  const nlohmann::json& list = cfg.json()[key];
  if (!list.is_array()) cfg.fail(key, "expected an array of target sparsities in (0, 1), found " + describe_json(list));
  if (list.size() > 1000) cfg.fail(key, cat("expected at most 1000 targets, found ", list.size()));
  for (size_t i = 0; i < list.size(); ++i) {
    std::string where = cfg.source() + ": " + cfg.path() + "/" + key + "/" + std::to_string(i);
    if (!list[i].is_number() || !(list[i].get<double>() > 0.0 && list[i].get<double>() < 1.0))
      throw Error(where + ": expected a target sparsity in (0, 1), found " + describe_json(list[i]));
    double s = list[i].get<double>();
    if (std::find(out.begin(), out.end(), s) != out.end()) throw Error(where + ": the target " + describe_json(list[i]) + " is listed twice");
    out.push_back(s);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Each method's reader of its own keys; the shared keys are read by read_pruning_settings.
const std::map<std::string, std::function<void(const Config&)>>& readers() {
  static const std::map<std::string, std::function<void(const Config&)>> r{
      {"omp", [](const Config& c) { read_one_shot_settings(c, kOmpScope); }},
      {"gmp", [](const Config& c) { read_gmp_settings(c); }},
      {"lottery", [](const Config& c) { read_rewind_settings(c), read_lottery_rate(c); }},
      {"os_sap", [](const Config& c) { read_rewind_settings(c), read_lottery_rate(c); }},
      {"sap", [](const Config& c) { read_rewind_settings(c), read_sap_amount(c); }},
      {"random", [](const Config& c) { read_one_shot_settings(c, kRandomScope); }},
      {"lats", [](const Config& c) { read_lats_settings(c); }},
      {"ltp", [](const Config& c) { read_ltp_settings(c); }},
      {"greg1", [](const Config& c) { read_greg_config(c, false); }},
      {"greg2", [](const Config& c) { read_greg_config(c, true); }},
      {"l1_filter", [](const Config& c) { read_l1_filter_settings(c); }},
  };
  return r;
}

}  // namespace

Scope read_scope(const Config& cfg, const std::string& key, Scope fallback, const std::vector<Scope>& allowed) {
  const char* names[] = {"global", "layer", "neuron"};
  std::vector<std::string> choices;
  for (Scope s : allowed) choices.push_back(names[int(s)]);
  std::string f = names[int(fallback)];
  std::string v = cfg.choice(key, choices, f);
  for (Scope s : allowed)
    if (v == names[int(s)]) return s;
  return fallback;
}

std::vector<NamePattern> read_patterns(const Config& cfg, const std::string& key) {
  std::vector<NamePattern> out;
  if (!cfg.has(key)) return out;
  cfg.accept(key);
  const nlohmann::json& list = cfg.json()[key];
  if (!list.is_array()) cfg.fail(key, "expected an array of name patterns, found " + describe_json(list));
  for (size_t i = 0; i < list.size(); ++i) {
    std::string where = cfg.source() + ": " + cfg.path() + "/" + key + "/" + std::to_string(i);
    if (!list[i].is_string() || list[i].get<std::string>().empty())
      throw Error(where + ": expected a non-empty name pattern (string), found " + describe_json(list[i]));
    out.push_back({list[i].get<std::string>(), where});
  }
  return out;
}

CommonSettings read_common_settings(const Config& cfg) {
  CommonSettings s;
  cfg.accept("method");
  s.filter.include = read_patterns(cfg, "include");
  s.filter.exclude = read_patterns(cfg, "exclude");
  Config pqi = cfg.child("pqi", true);
  s.pqi_p = pqi.real_in("p", 0.5, kPqiExponent);
  s.pqi_q = pqi.real_in("q", 1.0, kPqiExponent);
  if (!(s.pqi_q > s.pqi_p)) pqi.fail("q", cat("the PQ Index needs 0 < p < q, found p = ", s.pqi_p, ", q = ", s.pqi_q));
  return s;
}

double read_target(const Config& cfg, const std::string& key) {
  return cfg.real_in(key, Config::Interval{0.0, 1.0, false, true});
}

OneShotSettings read_one_shot_settings(const Config& cfg, Scope default_scope) {
  OneShotSettings s;
  s.target = read_target(cfg, "target");
  s.scope = read_scope(cfg, "scope", default_scope, {Scope::global, Scope::layer});
  s.finetune_epochs = cfg.int_in("finetune_epochs", 0, 0, kMaxMethodEpochs);  // 0: train.epochs
  return s;
}

GmpSettings read_gmp_settings(const Config& cfg) {
  GmpSettings s;
  s.target = read_target(cfg, "target");
  s.initial = cfg.real_in("initial", 0.0, Config::Interval{0.0, s.target});
  s.t0 = cfg.int_in("start_step", 0, 0, kMaxMethodSteps);
  s.dt = cfg.int_in("interval_steps", 1, kMaxMethodSteps);
  s.n = cfg.int_in("events", 1, kMaxMethodSteps);
  if (s.n > (kMaxMethodSteps - s.t0) / s.dt)
    cfg.fail("events", cat("start_step + events * interval_steps must be at most ", kMaxMethodSteps, ", found ", s.n,
                           " events of ", s.dt, " steps from step ", s.t0));
  s.scope = read_scope(cfg, "scope", Scope::layer, {Scope::global, Scope::layer});
  return s;
}

RewindSettings read_rewind_settings(const Config& cfg) {
  RewindSettings s;
  s.rounds = cfg.int_in("rounds", 1, kMaxRounds);  // pruning rounds after the dense one
  s.scope = read_scope(cfg, "scope", Scope::global);
  if (cfg.has("target")) s.target = read_target(cfg, "target");
  s.rewind_step = cfg.int_in("rewind_step", 0, 0, kMaxMethodSteps);  // round 0's length is checked at start-up
  return s;
}

int64_t read_lottery_rate(const Config& cfg) {
  const double rate = cfg.real_in("rate", 0.2, Config::Interval{0.0, 1.0, true, true});
  const double scaled = rate * double(kLotteryRateDen);
  const double num = std::round(scaled);  // (0, 1) and a multiple: 1 to kLotteryRateDen - 1
  if (std::fabs(scaled - num) > 1e-6)
    cfg.fail("rate", cat("expected a multiple of 0.0001 (the counts are computed in integers), found ", rate));
  return int64_t(num);
}

SapAmount read_sap_amount(const Config& cfg) {
  SapAmount a;
  a.p = cfg.real_in("p", 0.5, kPqiExponent);
  a.q = cfg.real_in("q", 1.0, kPqiExponent);
  if (!(a.q > a.p)) cfg.fail("q", cat("SAP needs 0 < p < q, found p = ", a.p, ", q = ", a.q));
  a.eta = cfg.real_in("eta", 0.0, kSapEta);
  a.gamma = cfg.real_in("gamma", 1.0, kSapGamma);
  a.beta = cfg.real_in("beta", 0.9, Config::Interval{0.0, 1.0, true, true});
  return a;
}

L1FilterSettings read_l1_filter_settings(const Config& cfg) {
  L1FilterSettings s;
  s.ratios = read_unit_ratios(cfg, true);  // GReg's keys and bounds
  refuse_pruning_init_from(cfg);
  s.pretrain_epochs = cfg.int_in("pretrain_epochs", 0, 0, kMaxMethodEpochs);  // 0: start from init_from
  s.finetune_epochs = cfg.int_in("finetune_epochs", 0, 0, kMaxMethodEpochs);  // 0: train.epochs
  s.finetune_lr = cfg.real_in("finetune_lr", 0.0, Config::Interval{0.0, 1e3});  // 0: optimizer.lr
  return s;
}

LatsSchedule read_lats_settings(const Config& cfg) {
  LatsSchedule s;
  s.final_threshold = cfg.real_in("final_threshold", kFinalThreshold);
  std::string kind = cfg.choice("schedule", {"slats", "lats", "pgh", "constant", "exact"}, "slats");
  parse_lats_kind(kind, s.kind);
  if (s.kind == LatsSchedule::Kind::pgh) {
    s.beta = cfg.real_in("beta", kPghBeta);                   // 1 is S-LATS
    if (s.beta == 1.0) s.kind = LatsSchedule::Kind::slats;  // the 0/0 limit of PGH
  }
  s.start_epoch = cfg.int_in("start_epoch", 0, 0, kMaxMethodEpochs);
  if (s.kind == LatsSchedule::Kind::constant && s.start_epoch != 0)
    cfg.fail("start_epoch", "the constant schedule holds d = D from the first step; it takes no start epoch");
  return s;
}

LtpSettings read_ltp_settings(const Config& cfg) {
  // The spec publishes no values; the bounds are far beyond any sweep and keep every derived
  // float (T_l, lambda / N, the thresholds' lr and clamp) finite.
  LtpSettings s;
  s.t0 = read_required(cfg, "t0", Config::Interval{1e-30, 1e6},  // T_l is a float: t0 a positive one
                       "T0, the temperature scale: T_l = T0 * Var(|w_l|)");
  s.lambda = read_required(cfg, "lambda", Config::Interval{0.0, 1e6}, "lambda, the weight of the normalised soft L0 term");
  s.lr_tau = read_required(cfg, "lr_tau", Config::Interval{0.0, 1e3, true, false}, "lr_tau, the thresholds' learning rate");
  s.clip_tau = cfg.float_in("clip_tau", 0.0f, Config::Interval{0.0, 1e6});  // 0: no clamp
  if (!cfg.has("finetune_epochs")) cfg.fail("finetune_epochs", "required key is missing (the epochs of phase B)");
  s.finetune_epochs = cfg.int_in("finetune_epochs", 1, kMaxMethodEpochs);
  s.trail = read_trail(cfg, "trail");
  if (cfg.has("target")) s.target = read_target(cfg, "target");
  // The magnitude top-up is trim's addition (neither the paper nor the spec has it): opt-in, so
  // that a run's sparsity is what the learned thresholds reached unless the manifest says otherwise.
  s.top_up = cfg.get<bool>("top_up", false);
  if (s.top_up && s.target < 0.0)
    cfg.fail("top_up", "the top-up prunes by magnitude up to /pruning/target, which is missing: add \"target\" or drop \"top_up\"");
  return s;
}

void read_pruning_settings(const Config& cfg) {
  std::string name = cfg.get<std::string>("method");
  auto it = readers().find(name);
  if (it == readers().end()) {
    std::string known;
    for (const auto& [n, r] : readers()) known += (known.empty() ? "" : ", ") + n;
    cfg.fail("method", "unknown pruning method " + quote(name, 80) + " (known: " + known + ")");
  }
  read_common_settings(cfg);
  it->second(cfg);
}

std::vector<std::string> pruning_settings_names() {
  std::vector<std::string> names;
  for (const auto& [n, r] : readers()) names.push_back(n);
  return names;
}

}  // namespace trim
