#pragma once
// Scope units of magnitude pruning (pruning/README.md "Scope"): the whole prunable set (global),
// one tensor (layer), or one output row of W reshaped to [out, -1] (neuron). Selection within each
// unit is pruning/select.h's: the k smallest |w| of the still-unpruned entries, ties toward the
// lower flat index, on the weights' device.
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "pruning/prunable.h"
#include "pruning/report.h"

namespace trim {

enum class Scope { global, layer, neuron };

// "global" | "layer" | "neuron" at cfg[key] (or `fallback`), limited to `allowed` (defined with the
// other settings readers in pruning/method_config.cpp).
Scope read_scope(const Config& cfg, const std::string& key, Scope fallback,
                 const std::vector<Scope>& allowed = {Scope::global, Scope::layer, Scope::neuron});
PqiScope pqi_scope(Scope s);

// Entries per unit and unpruned entries per unit (mask != 0; `masks` one per tensor).
std::vector<int64_t> unit_sizes(const PrunableSet& set, Scope scope);
std::vector<int64_t> unit_unpruned(const PrunableSet& set, const std::vector<Tensor>& masks, Scope scope);

// Prunes k[u] more entries of each unit u, ranking the magnitudes of `rank_by` (the set itself, or
// another set of the same shapes, e.g. the dense weights of os_sap). Returns the new masks.
std::vector<Tensor> prune_units(const PrunableSet& rank_by, const std::vector<Tensor>& masks, Scope scope,
                                const std::vector<int64_t>& k);

}  // namespace trim
