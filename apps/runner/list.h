#pragma once
// `<app> --list models|datasets|methods`: the registries' names and one line each, as a table.
#include <string>

namespace trim {

// The rows of registry `what` ("models", "datasets" or "methods"): name, then (models) the default
// input shape or (methods) the app that runs it, then the description; one row per line.
std::string registry_listing(const std::string& what);

}  // namespace trim
