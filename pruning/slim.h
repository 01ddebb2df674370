#pragma once
// Physical removal of pruned filters and of residual-stream channels (pruning/README.md#greg "Parameters touched", oracle 7) for models that
// describe their channel coupling (layers/channels.h: every conv net of the zoo, mlp, sap_cnn and
// cnn_small). Filters can be removed from the layers that make a prunable channel group; removing
// channel c removes it from every member of the group: the producer's row and bias, each BN's four
// tensors, a depthwise conv's filter, and the input channel (or, after a Flatten, the channel-major
// input columns) of each consumer. A residual stream (layers/channels.h, is_stream) is slimmed as a
// whole by its group's name ("layer2 stream"): channel c goes from every producer feeding its adds,
// its norms and every consumer; option-A shortcuts are rebuilt from the slimmed widths, so the
// removal must keep them expressible (check_option_a_removal).
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "layers/channels.h"
#include "layers/module.h"

namespace trim {

// The prunable group made by the layer whose weight is `weight` ("layer1.0.conv1.weight"), or
// nullptr (the classifier, a layer feeding a residual add, a weight that is no producer).
const ChannelGroup* filter_group(const std::vector<ChannelGroup>& groups, const std::string& weight);

// The group that `key` names for slimming: a prunable group's producer weight ("layer1.0.conv1.weight",
// as filter_group), or a prunable group or stream by its name ("layer1.0.conv1", "layer2 stream").
// nullptr when none.
const ChannelGroup* slim_group(const std::vector<ChannelGroup>& groups, const std::string& key);

// The tensors (state-dict names) whose dim 0 follows group g's channels: the producer's weight and
// bias, BN weight/bias/running_mean/running_var, depthwise weight and bias. Consumers' inputs are not
// listed (they follow dim 1, or columns).
std::vector<std::string> channel_rows(Module& model, const ChannelGroup& g);

// The state dict of `model` with the rows in `pruned` (a slim_group key -> pruned channel indices)
// removed from every member of its group. Same names and order as model.state_dict(); CPU tensors.
// Throws trim::Error when a key names no group, two keys name one group, an index is out of range,
// every channel of a group would go, or an option-A shortcut could not be rebuilt.
std::vector<std::pair<std::string, Tensor>> slim_state_dict(Module& model,
                                                            const std::map<std::string, std::vector<int64_t>>& pruned);

// The model spec (build_model's JSON) of the slimmed model: `spec` with every width option the
// model's groups name written out explicitly, and each pruned group's entry reduced.
nlohmann::json slim_model_spec(Module& model, const nlohmann::json& spec,
                               const std::map<std::string, std::vector<int64_t>>& pruned);

}  // namespace trim
