#pragma once
// Pruning methods by name, built from a manifest's "pruning" object (strict: the app calls
// cfg.finish() after building). Each app runs one family of methods: those whose entry names it.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/registry.h"
#include "pruning/training_method.h"

namespace trim {

// A pruning method: its factory (reads and bounds its keys of cfg), the app that runs it and one
// line for --list.
struct MethodEntry {
  std::function<std::unique_ptr<TrainingMethod>(const Config& cfg)> make;
  std::string app;  // "trim-magnitude", ...
  std::string about;
};

// Every method by name. To add one: a rule struct for the optimizer step if the existing pieces do
// not already express it (pruning/*_rule.h), one method class (pruning/<name>.{h,cpp}, listed in
// pruning/CMakeLists.txt) through TrainingMethod's hooks, and its row below in registry.cpp; then
// manifests in apps/manifests/ and a test. The app named in the row runs it; no app changes.
const Registry<MethodEntry>& method_registry();

// The names of the methods `app` runs (empty for an app that only trains dense networks).
std::vector<std::string> method_family(const std::string& app);

// Builds cfg["method"], which must be one of `allowed` (an app's family); errors name the JSON path.
std::unique_ptr<TrainingMethod> make_pruning_method(const Config& cfg, const std::vector<std::string>& allowed);

}  // namespace trim
