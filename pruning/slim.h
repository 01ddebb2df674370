#pragma once
// Physical removal of pruned filters (specs/greg.md "Parameters touched", oracle 7) for Sequential
// models whose weighted layers feed each other through channel-wise modules only: conv (or linear)
// out-channels -> its bias, the BN of that channel (weight, bias, running statistics) -> the next
// conv's input channels or, after a Flatten, the next linear layer's input columns of that channel
// (channel-major: channel c owns columns [c*S, (c+1)*S), S = spatial positions). Modules between
// two weighted layers may be anything without tensors (ReLU, pools, Flatten, Dropout) or modules
// whose every tensor is [C] (BatchNorm); anything else is refused with trim::Error.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "layers/module.h"

namespace trim {

// One weighted layer of a Sequential and what its output channels reach.
struct ChannelCoupling {
  std::string weight;                // "3.weight" (its full parameter name)
  int64_t channels = 0;              // output channels (rows of the weight)
  std::vector<std::string> outputs;  // tensors indexed by this layer's output channel: bias, BN tensors
  std::string consumer;              // the next weighted layer's weight ("" for the last layer)
  int64_t consumer_group = 1;        // consumer input columns per channel (1, or H*W after a Flatten)
};

// The couplings of every weighted layer of `model` (a Sequential), in order. Throws trim::Error
// when the model is not a Sequential of that shape (grouped convolutions included).
std::vector<ChannelCoupling> sequential_couplings(Module& model);

// The state dict of `model` with the rows in `pruned` (weight name -> ascending pruned row indices)
// removed from each weight, from every tensor coupled to its channels and from its consumer's
// input columns. Same names and order as model.state_dict(); CPU tensors. A layer absent from
// `pruned` keeps every channel; the last weighted layer (the classifier) may not be pruned.
std::vector<std::pair<std::string, Tensor>> slim_state_dict(Module& model,
                                                            const std::map<std::string, std::vector<int64_t>>& pruned);

// The model spec (build_model's JSON) of the slimmed model: `spec` with its width lists replaced by
// `widths` (the output channels of each weighted layer, in order, the classifier's last). Knows the
// zoo's Sequential families: "mlp" (hidden), "cnn_small" (widths, hidden), "sap_cnn" (widths).
nlohmann::json slim_model_spec(const nlohmann::json& spec, const std::vector<int64_t>& widths);

}  // namespace trim
