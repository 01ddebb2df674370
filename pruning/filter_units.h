#pragma once
// Filter pruning's units, shared by GReg's filter mode (pruning/greg.h) and L1-norm filter pruning
// (pruning/l1_filter.h) so that both choose, mask and slim filters one way (pruning/README.md#greg,
// "Groups and selection", "Parameters touched"):
//   - a unit is a prunable weight (its groups: the rows of W as [out, -1] in filter mode, its
//     elements in unstructured mode) or, in filter mode, a residual stream set (layers/channels.h:
//     its groups are the set's removal classes, pruned in every producer at once);
//   - a unit's ratio is the first "layer_ratios" pattern matching its name (a stream set: one of
//     its streams' names), else "ratio" (a stream set: only with "prune_streams", else 0); it prunes
//     n_p = min(ceil(r n), n - 1) groups, never all;
//   - in filter mode a filter's bias, BN channel and depthwise filter are masked with it, and the
//     physically slimmed model is exported at the end (pruning/slim.h).
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/optim/param_store.h"
#include "layers/module.h"
#include "pruning/greg_config.h"  // UnitRatios
#include "pruning/prunable.h"

namespace trim {

struct FilterUnit {
  std::string name;           // the weight's name, or the stream set's (layers/channels.h stream_set_name)
  std::vector<size_t> parts;  // its weights (indices into the prunable set): one, or the stream set's producers
  // Stream sets: class i removes row `second` of weight `first` (a prunable-set index) for each pair.
  std::vector<std::vector<std::pair<size_t, int64_t>>> classes;
  double ratio = 0.0;
  int64_t groups = 0, n_prune = 0;  // groups: the weight's rows (elements), or the set's classes
  bool stream() const { return !classes.empty(); }
};

struct FilterUnits {
  // The prunable weights that are no pruned stream's producers (in prunable-set order), then the
  // pruned stream sets.
  std::vector<FilterUnit> units;
  // Filter mode, per prunable weight: the store slots whose dim 0 follows its rows (bias, BN
  // weight and bias, a stream's norms; buffers are not in the store).
  std::vector<std::vector<size_t>> coupled;
  std::map<size_t, std::string> stream_of;  // a pruned stream's producer (set index) -> the stream's group name
  bool slim_ok = false;  // filter mode on a model that describes its channel coupling: slimmed export possible
};

// The units of `set` over `model` (store: where the coupled tensors live). `filter`: filter mode,
// else unstructured (no streams, no coupling). Throws trim::Error naming `where` ("<manifest>:
// /pruning") when a pattern matches nothing, streams of one set get different ratios, a stream's
// producer is not prunable, a weight has fewer than 2 dimensions, or a pruned layer's output
// channels are the model's outputs or feed a residual add. `method` names the method in messages.
// Warns (and sets slim_ok false) for filter mode on a model that does not describe its channels.
FilterUnits plan_filter_units(Module& model, const ParamStore& store, const PrunableSet& set, const UnitRatios& ratios,
                              bool filter, const std::string& where, const std::string& method);

// A stream unit's class scores: the sum over the class's producer rows of sum |w| (power 1) or
// sum w^2 (power 2, GReg's squared L2 norms).
std::vector<double> stream_class_scores(const PrunableSet& set, const FilterUnit& unit, int power);

// The n lowest of `score`, in ascending index order (ties toward the lower index).
std::vector<int64_t> lowest(const std::vector<double>& score, int64_t n);

// The rows each of a stream unit's weights loses when its classes `picks` go (sorted), written into
// rows[w] for every weight w of the unit.
void stream_rows(const FilterUnit& unit, const std::vector<int64_t>& picks, std::vector<std::vector<int64_t>>& rows);

// Filter mode's hard masks: per prunable weight, 0 on its pruned `rows` and 1 elsewhere; the
// coupled tensors' rows are written into `mask_arena` (the store's "mask" state) directly.
std::vector<Tensor> filter_masks(const PrunableSet& set, const ParamStore& store, Tensor& mask_arena,
                                 const std::vector<std::vector<int64_t>>& rows,
                                 const std::vector<std::vector<size_t>>& coupled);

// Where and how finalize exports the slimmed model.
struct SlimExport {
  std::string folder;       // the run folder ("": no files)
  nlohmann::json spec;      // the run's model spec
  bool write_files = true;  // RunInfo::writes_files
};

// Filter mode's summary and export at finalize: "removed_filters" (per weight) and
// "removed_stream_channels"; with a folder and slim_ok, model_slim.safetensors (metadata
// trim.method = `method`, trim.model = the slimmed spec) and model_slim.json, and "slim_model",
// "slim_parameters" in the summary.
void export_filter_slim(Module& model, const PrunableSet& set, const FilterUnits& units,
                        const std::vector<std::vector<int64_t>>& rows, const SlimExport& out, const std::string& method,
                        nlohmann::json& summary);

}  // namespace trim
