#include "pruning/registry.h"

#include <functional>
#include <map>

#include "pruning/lats.h"
#include "pruning/ltp.h"
#include "pruning/greg.h"
#include "pruning/magnitude.h"
#include "pruning/rewind.h"

namespace trim {
namespace {

using Factory = std::function<std::unique_ptr<TrainingMethod>(const Config&)>;

const std::map<std::string, Factory>& factories() {
  static const std::map<std::string, Factory> f = {
      {"omp", [](const Config& c) { return std::make_unique<OneShotMagnitude>(c); }},
      {"gmp", [](const Config& c) { return std::make_unique<GradualMagnitude>(c); }},
      {"lottery", [](const Config& c) { return std::make_unique<Lottery>("lottery", c); }},
      {"os_sap", [](const Config& c) { return std::make_unique<Lottery>("os_sap", c); }},
      {"sap", [](const Config& c) { return std::make_unique<Sap>(c); }},
      {"lats", [](const Config& c) { return std::make_unique<Lats>(c); }},
      {"ltp", [](const Config& c) { return std::make_unique<LearnedThreshold>(c); }},
      {"greg1", [](const Config& c) { return std::make_unique<Greg>("greg1", c); }},
      {"greg2", [](const Config& c) { return std::make_unique<Greg>("greg2", c); }},
  };
  return f;
}

}  // namespace

std::vector<std::string> pruning_method_names() {
  std::vector<std::string> n;
  for (const auto& [name, f] : factories()) n.push_back(name);
  return n;
}

std::unique_ptr<TrainingMethod> make_pruning_method(const Config& cfg, const std::vector<std::string>& allowed) {
  std::string name = cfg.get<std::string>("method");
  if (!factories().count(name)) {
    std::string known;
    for (const std::string& n : pruning_method_names()) known += (known.empty() ? "" : ", ") + n;
    cfg.fail("method", "unknown pruning method \"" + name + "\" (known: " + known + ")");
  }
  bool ok = false;
  std::string family;
  for (const std::string& a : allowed) {
    ok = ok || a == name;
    family += (family.empty() ? "" : ", ") + a;
  }
  if (!ok) cfg.fail("method", "\"" + name + "\" is not run by this app (it runs: " + family + ")");
  return factories().at(name)(cfg);
}

}  // namespace trim
