#pragma once
// The command line every training app shares:
//   <app> <manifest.json> [--set key=value ...] [--resume]
//   <app> --list models|datasets|methods
// It builds the training method from the manifest's "pruning" object (one of the methods whose
// registry entry names this app: pruning/registry.h) or, for an app without methods, dense
// training; trains; prints the summary as JSON.
#include <string>
#include <vector>

namespace trim {

struct AppSpec {
  std::string name;                  // "trim-lats"
  std::string about;                 // one line for --help
};

// Returns the process exit status (0, or 1 after one error line on stderr).
int run_training_app(int argc, char** argv, const AppSpec& spec);

}  // namespace trim
