#pragma once
// GReg's settings: the manifest's "pruning" object (pruning/README.md#greg; the keys are listed in
// pruning/greg.h), read through the bounded Config readers.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "pruning/prunable.h"

namespace trim {

enum class GregMode { unstructured, filter };

// The manifest's ratio keys of filter pruning (GReg's and l1_filter's "ratio", "layer_ratios",
// "prune_streams"; pruning/filter_units.h applies them).
struct UnitRatios {
  double ratio = 0.0;
  std::vector<std::pair<NamePattern, double>> layer_ratios;  // first match wins
  bool prune_streams = false;
};

struct GregConfig {
  GregMode mode = GregMode::filter;
  double ratio = 0.0;
  std::vector<std::pair<NamePattern, double>> layer_ratios;  // first match wins; else `ratio`
  bool prune_streams = false;                                 // filter mode: `ratio` applies to residual streams too
  double delta = 0.0, ceiling = 0.0;                          // reg_granularity_prune, reg_upper_limit
  double delta_pick = 0.0, ceiling_pick = 0.0, recover = 0.0;  // GReg-2 only (0 for GReg-1)
  double mag_limit = 0.0, lr_prune = 0.0, finetune_lr = 0.0;
  int64_t k_u = 0, k_s = 0;                                   // update_interval, stabilize_iterations
  int64_t pretrain_epochs = 0, reg_epochs = 0, finetune_epochs = 0;
  std::string where;             // "<manifest>: /pruning", for errors about the section as a whole
  std::string where_reg_epochs;  // "<manifest>: /pruning/reg_epochs"
};

// The ratio keys GReg and l1_filter share: "ratio" (required, [0, 1]), "layer_ratios" (a list of
// {"pattern", "ratio"}, first match wins) and "prune_streams" (filter mode only: `filter`).
UnitRatios read_unit_ratios(const Config& cfg, bool filter);

// Reads and checks GReg's keys of `cfg`; GReg-2's picking keys only when `greg2` (they stay unknown
// to GReg-1, so finish() refuses them there).
GregConfig read_greg_config(const Config& cfg, bool greg2);

// Pitfall #2 of GReg's official code: pruning random weights runs without complaint and means
// nothing. Refuses (naming `where`, "<manifest>: /pruning") a run without pretraining that does not
// start from the manifest's top-level init_from either. Filter pruning by L1 (l1_filter) shares it.
// An old manifest's /pruning/init_from: refused, naming the top-level key that replaced it.
void refuse_pruning_init_from(const Config& cfg);

void check_trained_start(const std::string& where, int64_t pretrain_epochs, const std::string& init_from,
                         const std::string& method);

}  // namespace trim
