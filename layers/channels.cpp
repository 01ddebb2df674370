#include "layers/channels.h"

#include <algorithm>
#include <map>
#include <numeric>

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
            auto into = std::find_if(groups.begin(), groups.end(), [&](const ChannelGroup& t) { return t.name == m.into; });
            if (into == groups.end() || into->channels != sc->out)
              throw Error(cat(where, ": the shortcut writes ", sc->out, " channels into '", m.into,
                              "', which is no group of that many channels"));
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

bool is_stream(const ChannelGroup& g) {
  return std::none_of(g.members.begin(), g.members.end(),
                      [&](const ChannelMember& m) { return m.role == ChannelRole::output && m.layer == g.name; });
}

namespace {

// Union-find over integers, the smaller root kept (so a class is named by its first node).
struct Unions {
  std::vector<size_t> parent;
  explicit Unions(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), size_t(0)); }
  size_t find(size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void join(size_t a, size_t b) {
    a = find(a), b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
};

// An option-A link: channel c of `from` is channel offset + c of `into`.
struct Link {
  size_t from, into;
  int64_t offset;
};

std::vector<Link> option_a_links(const std::vector<ChannelGroup>& groups) {
  std::vector<Link> out;
  for (size_t g = 0; g < groups.size(); ++g)
    for (const ChannelMember& m : groups[g].members) {
      if (m.role != ChannelRole::shortcut) continue;
      size_t t = 0;
      while (t < groups.size() && groups[t].name != m.into) ++t;
      if (t == groups.size()) throw Error(cat("channel group '", groups[g].name, "': the shortcut '", m.layer,
                                              "' writes into '", m.into, "', which is no group"));
      if (groups[t].channels < groups[g].channels + 2 * m.offset)
        throw Error(cat("channel group '", groups[g].name, "': the shortcut '", m.layer, "' puts ", groups[g].channels,
                        " channels at offset ", m.offset, " into '", m.into, "' of ", groups[t].channels));
      out.push_back({g, t, m.offset});
    }
  return out;
}

}  // namespace

std::vector<StreamSet> stream_sets(const std::vector<ChannelGroup>& groups) {
  std::vector<size_t> base(groups.size() + 1, 0);
  for (size_t g = 0; g < groups.size(); ++g) base[g + 1] = base[g] + (is_stream(groups[g]) ? size_t(groups[g].channels) : 0);
  Unions streams(groups.size()), nodes(base.back());
  for (const Link& l : option_a_links(groups)) {
    if (!is_stream(groups[l.from]) || !is_stream(groups[l.into]))
      throw Error(cat("channel groups: the option-A shortcut from '", groups[l.from].name, "' to '", groups[l.into].name,
                      "' joins a group that is no stream"));
    streams.join(l.from, l.into);
    int64_t a = groups[l.from].channels;
    for (int64_t c = 0; c < a; ++c) nodes.join(base[l.from] + size_t(c), base[l.into] + size_t(l.offset + c));
    for (int64_t j = 0; j < l.offset; ++j) nodes.join(base[l.into] + size_t(j), base[l.into] + size_t(l.offset + a + j));
  }
  std::vector<StreamSet> out;
  std::map<size_t, size_t> set_of;  // root stream -> index in out
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!is_stream(groups[g])) continue;
    auto [it, fresh] = set_of.emplace(streams.find(g), out.size());
    if (fresh) out.emplace_back();
    out[it->second].streams.push_back(g);
  }
  for (StreamSet& s : out) {
    std::map<size_t, size_t> class_of;  // root node -> class index; roots are first nodes, so classes come in node order
    for (size_t g : s.streams)
      for (int64_t c = 0; c < groups[g].channels; ++c) {
        auto [it, fresh] = class_of.emplace(nodes.find(base[g] + size_t(c)), s.classes.size());
        if (fresh) s.classes.emplace_back();
        s.classes[it->second].push_back({g, c});
      }
  }
  return out;
}

std::string stream_set_name(const std::vector<ChannelGroup>& groups, const StreamSet& set) {
  std::string out;
  for (size_t g : set.streams) out += (out.empty() ? "" : ", ") + groups[g].name;
  return out;
}

void check_option_a_removal(const std::vector<ChannelGroup>& groups,
                            const std::map<size_t, std::vector<int64_t>>& removed) {
  static const std::vector<int64_t> none;
  auto gone = [&](size_t g) -> const std::vector<int64_t>& {
    auto it = removed.find(g);
    return it == removed.end() ? none : it->second;
  };
  for (const Link& l : option_a_links(groups)) {
    const ChannelGroup &s = groups[l.from], &t = groups[l.into];
    const std::vector<int64_t>&rs = gone(l.from), &rt = gone(l.into);
    std::string where = cat("slim: the option-A shortcut from '", s.name, "' to '", t.name, "' (channel c -> ", l.offset, " + c)");
    for (int64_t c = 0; c < s.channels; ++c) {
      bool a = std::binary_search(rs.begin(), rs.end(), c), b = std::binary_search(rt.begin(), rt.end(), l.offset + c);
      if (a != b)
        throw Error(cat(where, ": channel ", c, " of the first is ", a ? "removed" : "kept", " but channel ", l.offset + c,
                        " of the second is ", b ? "removed" : "kept", "; they must go together"));
    }
    int64_t front_gone = std::lower_bound(rt.begin(), rt.end(), l.offset) - rt.begin();
    int64_t in = s.channels - int64_t(rs.size()), out = t.channels - int64_t(rt.size());
    if (l.offset - front_gone != (out - in) / 2)
      throw Error(cat(where, ": the slimmed shortcut pads ", (out - in) / 2, " channels in front (", in, " -> ", out,
                      ") but ", l.offset - front_gone, " front pad channels are kept; remove front and back pad channels in pairs"));
  }
}

}  // namespace trim
