#pragma once
// Training checkpoints: model, optimizer state, the training method's state, random-generator
// state and where training stands, in one safetensors file written atomically. Restoring one and
// training on reproduces the run that was interrupted (same device and thread count).
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "apps/runner/run_state.h"
#include "core/optim/sgd.h"
#include "core/random/generator.h"
#include "layers/module.h"
#include "pruning/training_method.h"

namespace trim {

// A checkpoint read into memory and checked for form, not yet applied to anything.
struct Checkpoint : CheckpointMeta {
  std::string path;
  std::vector<std::pair<std::string, Tensor>> model;  // "model.<name>" without the prefix
  std::map<std::string, Tensor> optim, method_tensors;
};

// Tensors: "model.<name>" for every parameter and buffer, "optim.<name>" for optimizer state,
// "method.<name>" for the method's tensors. Metadata: checkpoint_metadata(meta) (run_state.h) with
// the method's name and JSON state taken from `method`. Before anything is written every tensor is
// checked (check_checkpoint_tensors): a non-finite value throws, naming the tensor, and the file on
// disk stays as it was.
void save_checkpoint(const std::string& path, const Module& model, const SgdBase& optimizer,
                     const TrainingMethod& method, const CheckpointMeta& meta);

// What check_checkpoint_tensors throws: a trim::Error the training loop reads as divergence.
struct NonFiniteTensor : Error {
  using Error::Error;
};

// Refuses (NonFiniteTensor, a trim::Error naming `where` and the tensor) a tensor holding a NaN or an infinity, and a
// BatchNorm running variance ("...running_var") below 0: values no trained model can hold.
void check_checkpoint_tensors(const std::string& where, const std::vector<std::pair<std::string, Tensor>>& tensors);

// Reads the whole file and checks its form before anything is applied or written: a regular file,
// the data and header checksums (both required: a swapped tensor or an edited metadata value is
// refused), the metadata (parse_checkpoint_metadata), tensor name prefixes and finite values
// (check_checkpoint_tensors). Throws one trim::Error naming the file and the entry.
Checkpoint read_checkpoint(const std::string& path);

// Checks every tensor of `ck` against the model, optimizer and method first (names, shapes,
// dtypes; nothing missing, nothing extra) and only then copies them in, so a mismatch leaves
// everything untouched. Restores the generator and the method's JSON state. The method's name is
// checked once, by check_progress, which comes first.
void apply_checkpoint(const Checkpoint& ck, Module& model, SgdBase& optimizer, TrainingMethod& method,
                      Generator& generator);

}  // namespace trim
