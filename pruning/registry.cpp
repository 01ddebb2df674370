#include "pruning/registry.h"

#include "pruning/greg.h"
#include "pruning/l1_filter.h"
#include "pruning/lats.h"
#include "pruning/ltp.h"
#include "pruning/magnitude.h"
#include "pruning/random.h"
#include "pruning/rewind.h"

namespace trim {
namespace {

template <class Method, class... Args>
std::function<std::unique_ptr<TrainingMethod>(const Config&)> make(Args... args) {
  return [=](const Config& c) -> std::unique_ptr<TrainingMethod> { return std::make_unique<Method>(args..., c); };
}

}  // namespace

const Registry<MethodEntry>& method_registry() {
  static const Registry<MethodEntry> r("pruning method", {
      {"omp", {make<OneShotMagnitude>(), "trim-magnitude", "one-shot magnitude pruning, then fine-tuning"}},
      {"gmp", {make<GradualMagnitude>(), "trim-magnitude", "gradual magnitude pruning (Zhu & Gupta's cubic schedule)"}},
      {"lottery", {make<Lottery>("lottery"), "trim-magnitude", "iterative magnitude pruning with rewinding (lottery tickets)"}},
      {"random", {make<RandomPruning>(), "trim-magnitude", "random pruning once, then fine-tuning (the sanity baseline)"}},
      {"l1_filter", {make<L1FilterPruning>(), "trim-magnitude", "L1-norm filter pruning once (Li et al. 2017), then fine-tuning; slimmed export"}},
      {"os_sap", {make<Lottery>("os_sap"), "trim-magnitude", "SAP's one-shot baseline: prune once by magnitude, rewind, retrain"}},
      {"sap", {make<Sap>(), "trim-sap", "sparsity-informed adaptive pruning (PQ Index)"}},
      {"lats", {make<Lats>(), "trim-lats", "soft threshold pruning as ISTA with a threshold scheduler"}},
      {"ltp", {make<LearnedThreshold>(), "trim-ltp", "learned per-layer thresholds, sigmoid soft masks, differentiable L0"}},
      {"greg1", {make<Greg>("greg1"), "trim-greg", "GReg-1: a growing L2 penalty on the weights chosen by magnitude, then prune"}},
      {"greg2", {make<Greg>("greg2"), "trim-greg", "GReg-2: a uniform growing penalty spreads magnitudes by curvature, then as GReg-1"}},
  });
  return r;
}

std::vector<std::string> method_family(const std::string& app) {
  std::vector<std::string> names;
  for (const auto& [name, e] : method_registry().entries())
    if (e.app == app) names.push_back(name);
  return names;
}

std::unique_ptr<TrainingMethod> make_pruning_method(const Config& cfg, const std::vector<std::string>& allowed) {
  std::string name = cfg.get<std::string>("method");
  if (!method_registry().contains(name))
    cfg.fail("method", "unknown pruning method \"" + name + "\" (known: " + method_registry().known() + ")");
  std::string family;
  bool ok = false;
  for (const std::string& a : allowed) {
    ok = ok || a == name;
    family += (family.empty() ? "" : ", ") + a;
  }
  if (!ok) cfg.fail("method", "\"" + name + "\" is not run by this app (it runs: " + family + ")");
  return method_registry().at(name).make(cfg);
}

}  // namespace trim
