#pragma once
// The prunable set: which parameters a pruner ranks, masks and reports on (pruning/README.md,
// "Prunable set P": conv and linear weights, never biases or BN).
//
// Name patterns are globs matched against the whole parameter name (as Module::named_parameters()
// spells it, e.g. "layer1.0.conv1.weight"):
//   *   any run of characters without '.' (one name component or part of one)
//   **  any run of characters, dots included
//   ?   one character other than '.'
// every other character is literal (so '.' needs no escaping, unlike a regex).
// Examples: "layer1.*.conv1.weight", "conv1.weight", "fc.*", "**.downsample.*".
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/module.h"

namespace trim {

// Parameters in named_parameters() order; the "flat index" of the pruning code is the position in
// the concatenation of the tensors in this order.
struct PrunableSet {
  std::vector<std::string> names;
  std::vector<Tensor> tensors;

  size_t size() const { return tensors.size(); }
  int64_t numel() const;  // total elements over all tensors
};

// A name pattern and where it came from, for error messages (e.g. "run.json: /pruning/exclude/0").
struct NamePattern {
  std::string glob;
  std::string where;
};

// True when `name` matches `glob` as described above.
bool glob_match(const std::string& glob, const std::string& name);

struct PrunableFilter {
  // Empty: the parameters flagged ParamInfo::prunable (conv and linear weights). Otherwise the
  // parameters matched by any include pattern; each must be a weight (ParamKind::weight) with more
  // than one dimension: a pattern that matches a bias, a BN parameter or a 1-d tensor is an error.
  std::vector<NamePattern> include;
  // Removed from the set above; a pattern must match at least one member of that set.
  std::vector<NamePattern> exclude;
};

// Builds the prunable set of `params` (in their order). Throws trim::Error naming the pattern's
// `where` and glob when an include or exclude pattern matches nothing (or, for include, matches a
// parameter that may not be pruned), and when the resulting set is empty.
PrunableSet prunable_set(const std::vector<NamedParameter>& params, const PrunableFilter& filter = {});

}  // namespace trim
