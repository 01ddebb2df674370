#pragma once
// Channel coupling: which tensors index the same channels, so that a filter pruner can remove a
// channel everywhere at once and a slimmed network can be rebuilt from its spec.
//
// A ChannelGroup is one set of `channels` channels and every place they appear:
//   output     a conv's or linear's weight dim 0 (and its bias): the layer that makes them;
//   norm       a BatchNorm2d's weight, bias, running_mean and running_var;
//   depthwise  a depthwise conv (groups == its channels): weight dim 0 and its groups; it reads and
//              writes the same channels, so it sits inside the group of the layer feeding it;
//   input      a conv's weight dim 1, or a linear's input columns: channel c owns columns
//              [(offset + c) * spatial, (offset + c + 1) * spatial) (spatial = H * W flattened);
//   shortcut   an option-A shortcut: channel c passes on to channel offset + c of the next
//              residual stream (which is another, larger group).
// Channel c of the group is channel offset + c of the member's axis (offset is 0 except after an
// option-A shortcut).
//
// prunable groups have one producer and no residual add: removing channel j slices exactly their
// members and nothing else, and decrementing spec[option][index] (or spec[option] when index is
// -1) describes the slimmed network (write every width option out explicitly: some defaults
// follow others, e.g. mobilenet_v2's hidden widths follow its stage widths). Residual streams (the outputs of every block joined by an add,
// identity or option-A shortcuts) are listed too, not prunable, so a pruner knows which layers'
// filters it must leave alone.
#include <cstdint>
#include <string>
#include <vector>

#include "layers/module.h"

namespace trim {

enum class ChannelRole { output, norm, depthwise, input, shortcut };
const char* channel_role_name(ChannelRole role);

struct ChannelMember {
  std::string layer;  // module name, as named_modules() gives it ("layer1.0.conv1")
  ChannelRole role = ChannelRole::output;
  int64_t offset = 0;
  int64_t spatial = 1;  // input of a linear layer only
};

struct ChannelGroup {
  std::string name;  // the producing layer ("layer1.0.conv1") or the stream ("layer2 stream")
  int64_t channels = 0;
  bool prunable = false;
  std::string option;  // the spec option that sets `channels` ("widths", "stage_widths", "stem_width", ...)
  int64_t index = -1;  // its entry in that option's list, -1 for a scalar option
  std::vector<ChannelMember> members;
};

// Implemented by models that describe their channels (every model of the zoo built on convs).
class ChannelCoupled {
 public:
  virtual ~ChannelCoupled() = default;
  virtual const std::vector<ChannelGroup>& channel_groups() const = 0;
};

// The groups of `model`; throws trim::Error when the model does not describe its channels.
const std::vector<ChannelGroup>& channel_groups(const Module& model);

// Checks every member against the model: the layer exists and has the role's type, the axis the
// role names has exactly offset + channels entries (times spatial for a linear's input), and a
// shortcut reads exactly `channels` channels and writes at least offset + channels. Throws
// trim::Error naming the group and the member.
void check_channel_groups(Module& model, const std::vector<ChannelGroup>& groups);

}  // namespace trim
