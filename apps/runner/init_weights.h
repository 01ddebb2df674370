#pragma once
// The manifest's top-level "init_from": a run that starts from weights trained elsewhere (a trim
// run's model.safetensors or checkpoint.safetensors, or a file in PyTorch's state-dict names such
// as scripts/import_torchvision.py writes) instead of its seeded initialisation.
#include <string>
#include <vector>

#include "layers/module.h"

namespace trim {

// What load_init_weights did.
struct InitReport {
  int64_t loaded = 0;                 // tensors copied from the file
  std::vector<std::string> skipped;   // non-strict only: "name: file [..], model [..]" (shapes differed)
  std::vector<std::string> missing;   // non-strict only: model tensors the file lacks (initialisation kept)
  std::vector<std::string> ignored;   // non-strict only: file tensors the model lacks
};

// Copies the safetensors file `path` into `model`'s parameters and buffers, by state-dict name.
// A "model." prefix on every weight's name (trim's checkpoints) is accepted; a checkpoint's
// "optim." and "method." tensors are then ignored. `strict`: every parameter and buffer must be in
// the file with the model's shape and dtype, and no other tensor; otherwise one trim::Error names
// `where` (the manifest and JSON path), the file and the first missing, unexpected or mismatched
// tensor with both shapes. Not strict (a different classifier): tensors whose shape or dtype
// differs are skipped, missing ones keep their initialisation, unknown ones are ignored; each is
// listed in the report and the log. A file that cannot be read, or holds a non-finite value, is
// refused either way. Nothing is copied unless every check has passed.
InitReport load_init_weights(Module& model, const std::string& path, bool strict, const std::string& where);

}  // namespace trim
