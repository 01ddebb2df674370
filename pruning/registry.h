#pragma once
// Pruning methods by name, built from a manifest's "pruning" object (strict: the app calls
// cfg.finish() after building). Each app allows its own family of methods.
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "pruning/training_method.h"

namespace trim {

// Every method name trim knows, in a stable order.
std::vector<std::string> pruning_method_names();

// Builds cfg["method"], which must be one of `allowed` (the app's family); errors name the JSON path.
std::unique_ptr<TrainingMethod> make_pruning_method(const Config& cfg, const std::vector<std::string>& allowed);

}  // namespace trim
