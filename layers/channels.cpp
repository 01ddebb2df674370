#include "layers/channels.h"

#include <map>

#include "layers/layers.h"

namespace trim {

const char* channel_role_name(ChannelRole role) {
  switch (role) {
    case ChannelRole::output: return "output";
    case ChannelRole::norm: return "norm";
    case ChannelRole::depthwise: return "depthwise";
    case ChannelRole::input: return "input";
    case ChannelRole::shortcut: return "shortcut";
  }
  return "?";
}

const std::vector<ChannelGroup>& channel_groups(const Module& model) {
  const auto* coupled = dynamic_cast<const ChannelCoupled*>(&model);
  if (!coupled) throw Error("channel_groups: this model does not describe its channel coupling");
  return coupled->channel_groups();
}

void check_channel_groups(Module& model, const std::vector<ChannelGroup>& groups) {
  std::map<std::string, Module*> modules;
  for (auto& [name, m] : model.named_modules()) modules[name] = m;
  for (const ChannelGroup& g : groups) {
    for (const ChannelMember& m : g.members) {
      std::string where = cat("channel group '", g.name, "' (", g.channels, " channels), ", channel_role_name(m.role),
                              " member '", m.layer, "'");
      auto it = modules.find(m.layer);
      if (it == modules.end()) throw Error(cat(where, ": no such layer"));
      Module* layer = it->second;
      int64_t want = m.offset + g.channels, have = -1;
      auto* conv = dynamic_cast<Conv2d*>(layer);
      auto* linear = dynamic_cast<Linear*>(layer);
      switch (m.role) {
        case ChannelRole::output:
          if (conv || linear) have = (conv ? conv->weight : linear->weight).size(0);
          break;
        case ChannelRole::norm:
          if (auto* bn = dynamic_cast<BatchNorm2d*>(layer)) have = bn->weight.size(0);
          break;
        case ChannelRole::depthwise:
          if (conv && conv->params.groups == conv->weight.size(0) && conv->weight.size(1) == 1)
            have = conv->weight.size(0);
          break;
        case ChannelRole::input:
          if (conv && conv->params.groups == 1)
            have = conv->weight.size(1);
          if (linear) {
            want *= m.spatial;
            have = linear->weight.size(1);
          }
          break;
        case ChannelRole::shortcut:
          if (auto* sc = dynamic_cast<ShortcutA*>(layer)) {
            if (sc->in != g.channels || sc->out < want || (sc->out - sc->in) / 2 != m.offset)
              throw Error(cat(where, ": the shortcut maps ", sc->in, " to ", sc->out, " channels with ",
                              (sc->out - sc->in) / 2, " in front, the group says ", g.channels, " at offset ", m.offset));
            have = want;
          }
          break;
      }
      if (have < 0) throw Error(cat(where, ": the layer's type does not fit the role"));
      if (have != want) throw Error(cat(where, ": the layer has ", have, " entries on that axis, the group needs ", want));
    }
  }
}

}  // namespace trim
