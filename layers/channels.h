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
//              residual stream, the group named `into` (another, larger group).
// Channel c of the group is channel offset + c of the member's axis (offset is 0 except after an
// option-A shortcut).
//
// prunable groups have one producer and no residual add: removing channel j slices exactly their
// members and nothing else, and decrementing spec[option][index] (or spec[option] when index is
// -1, and every entry of also_options) describes the slimmed network (write every width option out
// explicitly: some defaults follow others, e.g. mobilenet_v2's hidden widths follow its stage
// widths). Residual streams (the outputs of every block joined by an add, identity or option-A
// shortcuts) are listed too with prunable = false, so a per-layer filter pruner knows which
// layers' filters it must leave alone; they are slimmed as a whole instead (is_stream,
// stream_sets): channel c of a stream is removed from every producer that feeds its adds (each
// block's last conv and BN, a downsample conv and BN, the stem), its norms, and every consumer.
//
// Option-A shortcuts (ShortcutA: zero-pads in -> out channels, (out - in) / 2 in front) tie the
// streams they join. After slimming, the shortcut is rebuilt from the slimmed widths in' and out'
// and pads (out' - in') / 2 in front again, so a removal is expressible only when (1) channel c
// of the narrower stream S goes exactly when channel offset + c of the wider stream T goes, and
// (2) T keeps (out' - in') / 2 of its front pad channels [0, offset). Streams joined by option-A
// shortcuts therefore form one stream set, whose removal classes are: each channel c of S with
// its images offset + c in T (and onwards); each front pad channel j of T paired with the back pad
// channel offset + in + j (the last back channel alone when out - in is odd). Removing whole
// classes always satisfies (1) and (2).
#include <cstdint>
#include <map>
#include <string>
#include <utility>
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
  std::string into;     // shortcut only: the name of the group the shortcut writes into
};

struct ChannelGroup {
  std::string name;  // the producing layer ("layer1.0.conv1") or the stream ("layer2 stream")
  int64_t channels = 0;
  bool prunable = false;
  std::string option;  // the spec option that sets `channels` ("widths", "stage_widths", "stem_width", ...)
  int64_t index = -1;  // its entry in that option's list, -1 for a scalar option
  std::vector<ChannelMember> members;
  // Further (option, index) entries that set the same width (a stem merged into a stream has its
  // own stem_width option).
  std::vector<std::pair<std::string, int64_t>> also_options;
};

// True for a residual stream (or any group that is not one layer's filters): no output member
// is named like the group. Such a group is slimmed by its name, never by a producer's weight.
bool is_stream(const ChannelGroup& g);

// A (group index, channel) pair.
struct GroupChannel {
  size_t group = 0;
  int64_t channel = 0;
};

// Streams slimmed together: one stream, or the streams joined by option-A shortcuts (see above).
struct StreamSet {
  std::vector<size_t> streams;                     // group indices, in model order
  std::vector<std::vector<GroupChannel>> classes;  // each class is removed as a whole
};

// The stream sets of a model's groups, in the order of their first stream.
std::vector<StreamSet> stream_sets(const std::vector<ChannelGroup>& groups);
// The streams' names of a set, joined by ", " ("conv1 + layer1 stream, layer2 stream, ...").
std::string stream_set_name(const std::vector<ChannelGroup>& groups, const StreamSet& set);

// Throws trim::Error (naming both streams) unless removing `removed[g]` (sorted channel indices
// per group index; a missing group loses nothing) satisfies rules (1) and (2) above for every
// option-A shortcut.
void check_option_a_removal(const std::vector<ChannelGroup>& groups,
                            const std::map<size_t, std::vector<int64_t>>& removed);

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
