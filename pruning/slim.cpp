#include "pruning/slim.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "layers/layers.h"

namespace trim {
namespace {

// t with only the `keep` entries of axis 0 (groups of `per` consecutive entries of axis 1 when
// axis is 1: a linear consumer's columns after a Flatten).
Tensor keep_axis(const Tensor& t, int axis, const std::vector<int64_t>& keep, int64_t per = 1) {
  std::vector<float> v = t.to(Device::cpu()).to_vector<float>();
  std::vector<int64_t> dims = t.shape().vec();
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= dims[size_t(i)];
  for (size_t i = size_t(axis) + 1; i < dims.size(); ++i) inner *= dims[i];
  int64_t n = dims[size_t(axis)], block = per * inner;
  std::vector<float> out;
  out.reserve(size_t(outer) * keep.size() * size_t(block));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c : keep) {
      auto first = v.begin() + (o * n + c * per) * inner;
      out.insert(out.end(), first, first + block);
    }
  dims[size_t(axis)] = int64_t(keep.size()) * per;
  return Tensor::from_vector(Shape(dims), out);
}

struct Cut {
  const ChannelGroup* group;
  std::vector<int64_t> keep;
};

std::vector<Cut> cuts(Module& model, const std::map<std::string, std::vector<int64_t>>& pruned) {
  const std::vector<ChannelGroup>& groups = channel_groups(model);
  std::vector<Cut> out;
  std::map<size_t, std::vector<int64_t>> removed;  // group index -> sorted removed channels
  for (const auto& [name, rows] : pruned) {
    const ChannelGroup* g = slim_group(groups, name);
    if (!g)
      throw Error("slim: '" + name + "' does not make a prunable channel group and names none (the classifier, a "
                  "layer that feeds a residual add: name its stream instead, or not a conv/linear weight); its filters "
                  "cannot be removed");
    size_t gi = size_t(g - groups.data());
    if (removed.count(gi)) throw Error("slim: the channels of group '" + g->name + "' are given twice (by '" + name + "')");
    std::vector<char> gone(size_t(g->channels), 0);
    for (int64_t r : rows) {
      if (r < 0 || r >= g->channels) throw Error(cat("slim: row ", r, " of ", name, " is out of range [0, ", g->channels, ")"));
      gone[size_t(r)] = 1;
    }
    Cut c{g, {}};
    std::vector<int64_t>& rm = removed[gi];
    for (int64_t r = 0; r < g->channels; ++r) (gone[size_t(r)] ? rm : c.keep).push_back(r);
    if (c.keep.empty()) throw Error("slim: every channel of " + name + " is pruned; a layer is never emptied");
    out.push_back(std::move(c));
  }
  check_option_a_removal(groups, removed);
  return out;
}

}  // namespace

const ChannelGroup* filter_group(const std::vector<ChannelGroup>& groups, const std::string& weight) {
  for (const ChannelGroup& g : groups)
    if (g.prunable && weight == g.name + ".weight") return &g;
  return nullptr;
}

const ChannelGroup* slim_group(const std::vector<ChannelGroup>& groups, const std::string& key) {
  if (const ChannelGroup* g = filter_group(groups, key)) return g;
  for (const ChannelGroup& g : groups)
    if (g.name == key && (g.prunable || is_stream(g))) return &g;
  return nullptr;
}

std::vector<std::string> channel_rows(Module& model, const ChannelGroup& g) {
  std::set<std::string> layers;
  for (const ChannelMember& m : g.members)
    if (m.role == ChannelRole::output || m.role == ChannelRole::norm || m.role == ChannelRole::depthwise)
      layers.insert(m.layer);
  std::vector<std::string> out;
  for (const auto& [name, t] : model.state_dict())
    if (layers.count(name.substr(0, name.rfind('.')))) out.push_back(name);
  return out;
}

std::vector<std::pair<std::string, Tensor>> slim_state_dict(Module& model,
                                                            const std::map<std::string, std::vector<int64_t>>& pruned) {
  struct Slice {
    int axis;
    const std::vector<int64_t>* keep;
    int64_t per;
  };
  std::map<std::string, std::vector<Slice>> slices;  // state-dict name -> slices, in group order
  std::vector<Cut> all = cuts(model, pruned);
  for (const Cut& c : all) {
    for (const std::string& n : channel_rows(model, *c.group)) slices[n].push_back({0, &c.keep, 1});
    for (const ChannelMember& m : c.group->members) {
      if (m.role == ChannelRole::shortcut) continue;  // no tensors: rebuilt from the slimmed widths
      TRIM_CHECK(m.offset == 0, "slim: a group member at a channel offset");
      if (m.role == ChannelRole::input) slices[m.layer + ".weight"].push_back({1, &c.keep, m.spatial});
    }
  }
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, t] : model.state_dict()) {
    Tensor x = t.to(Device::cpu()).clone();
    if (auto it = slices.find(name); it != slices.end())
      for (const Slice& s : it->second) x = keep_axis(x, s.axis, *s.keep, s.per);
    out.emplace_back(name, x);
  }
  return out;
}

nlohmann::json slim_model_spec(Module& model, const nlohmann::json& spec,
                               const std::map<std::string, std::vector<int64_t>>& pruned) {
  const std::vector<ChannelGroup>& groups = channel_groups(model);
  std::map<std::string, std::vector<int64_t>> lists;
  std::map<std::string, int64_t> scalars;
  auto options = [](const ChannelGroup& g) {
    std::vector<std::pair<std::string, int64_t>> o;
    if (!g.option.empty()) o.push_back({g.option, g.index});
    o.insert(o.end(), g.also_options.begin(), g.also_options.end());
    return o;
  };
  for (const ChannelGroup& g : groups)
    for (const auto& [option, index] : options(g)) {
      if (index < 0) {
        scalars[option] = g.channels;
      } else {
        auto& w = lists[option];
        if (w.size() <= size_t(index)) w.resize(size_t(index) + 1, 0);
        w[size_t(index)] = g.channels;
      }
    }
  for (const Cut& c : cuts(model, pruned)) {
    const ChannelGroup& g = *c.group;
    if (g.option.empty()) throw Error("slim: the group of " + g.name + " names no spec option; no slimmed spec");
    for (const auto& [option, index] : options(g))
      (index < 0 ? scalars[option] : lists[option][size_t(index)]) = int64_t(c.keep.size());
  }
  nlohmann::json out = spec;
  for (const auto& [k, w] : lists) {
    if (std::find(w.begin(), w.end(), 0) != w.end())
      throw Error("slim: the groups of this model do not give every entry of its \"" + k + "\" option");
    out[k] = w;
  }
  for (const auto& [k, v] : scalars) out[k] = v;
  return out;
}

}  // namespace trim
