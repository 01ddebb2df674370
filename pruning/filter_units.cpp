#include "pruning/filter_units.h"

#include <algorithm>

#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/log.h"
#include "layers/channels.h"
#include "pruning/select.h"
#include "pruning/slim.h"

namespace trim {

FilterUnits plan_filter_units(Module& model, const ParamStore& store, const PrunableSet& set, const UnitRatios& ratios,
                              bool filter, const std::string& where, const std::string& method) {
  FilterUnits out;
  out.coupled.assign(set.size(), {});
  for (size_t l = 0; l < set.size(); ++l)
    if (filter && set.tensors[l].ndim() < 2)
      throw Error(method + ": filter mode needs weights of 2 or more dimensions; " + set.names[l] + " has " +
                  set.tensors[l].shape().str());
  const auto& lr = ratios.layer_ratios;
  std::vector<bool> used(lr.size(), false);
  auto pattern_ratio = [&](const std::string& name) -> int {  // the first pattern matching `name`, or -1
    for (size_t p = 0; p < lr.size(); ++p)
      if (glob_match(lr[p].first.glob, name)) {
        used[p] = true;
        return int(p);
      }
    return -1;
  };
  const ChannelCoupled* coupled = dynamic_cast<const ChannelCoupled*>(&model);
  std::vector<FilterUnit> streams;
  std::vector<bool> taken(set.size(), false);
  if (filter && coupled) {  // residual streams: units of their own when their ratio is > 0
    const std::vector<ChannelGroup>& groups = coupled->channel_groups();
    std::map<std::string, size_t> weight_index;
    for (size_t l = 0; l < set.size(); ++l) weight_index[set.names[l]] = l;
    for (const StreamSet& s : stream_sets(groups)) {
      FilterUnit U;
      U.name = stream_set_name(groups, s);
      int match = -1;
      for (size_t g : s.streams) {
        int p = pattern_ratio(groups[g].name);
        if (p >= 0 && match >= 0 && lr[size_t(p)].second != lr[size_t(match)].second)
          throw Error(lr[size_t(p)].first.where + ": \"" + lr[size_t(p)].first.glob + "\" gives stream '" + groups[g].name +
                      "' another ratio than " + lr[size_t(match)].first.where + " gives the other streams of its set (" +
                      U.name + "), which option-A shortcuts prune together");
        if (match < 0) match = p;
      }
      U.ratio = match >= 0 ? lr[size_t(match)].second : ratios.prune_streams ? ratios.ratio : 0.0;
      if (U.ratio == 0.0) continue;
      std::map<size_t, std::vector<size_t>> producers;  // stream group -> its producers' set indices
      for (size_t g : s.streams)
        for (const ChannelMember& m : groups[g].members) {
          if (m.role != ChannelRole::output) continue;
          auto it = weight_index.find(m.layer + ".weight");
          if (it == weight_index.end())
            throw Error(where + ": pruning the stream '" + groups[g].name + "' removes filters of " + m.layer +
                        ".weight, which is not a prunable weight of this run (see /pruning/include and /pruning/exclude)");
          producers[g].push_back(it->second);
          U.parts.push_back(it->second);
          taken[it->second] = true;
          out.stream_of[it->second] = groups[g].name;
        }
      for (const auto& cls : s.classes) {
        U.classes.emplace_back();
        for (const GroupChannel& gc : cls)
          for (size_t l : producers[gc.group]) U.classes.back().push_back({l, gc.channel});
      }
      for (const auto& [g, ls] : producers)  // the stream's biases and BNs follow its first producer's rows
        for (const std::string& o : channel_rows(model, groups[g])) {
          int slot = store.find(o);
          if (slot >= 0 && !weight_index.count(o)) out.coupled[ls.front()].push_back(size_t(slot));
        }
      U.groups = int64_t(U.classes.size());
      streams.push_back(std::move(U));
    }
  }
  for (size_t l = 0; l < set.size(); ++l) {
    int p = pattern_ratio(set.names[l]);
    if (taken[l]) continue;  // a pruned stream's producer follows the stream's ratio
    FilterUnit L;
    L.name = set.names[l];
    L.parts = {l};
    L.groups = filter ? set.tensors[l].shape()[0] : set.tensors[l].numel();
    L.ratio = p >= 0 ? lr[size_t(p)].second : ratios.ratio;
    out.units.push_back(std::move(L));
  }
  for (FilterUnit& U : streams) out.units.push_back(std::move(U));
  for (FilterUnit& U : out.units) U.n_prune = filter_prune_count(U.ratio, U.groups);
  for (size_t p = 0; p < used.size(); ++p)
    if (!used[p]) throw Error(lr[p].first.where + ": \"" + lr[p].first.glob + "\" matches no prunable weight or stream");
  if (!filter) return out;
  // Filter mode: a filter's bias, BN channel and depthwise filter are removed with it, so they are
  // masked with it (layers/channels.h describes which tensors those are).
  if (!coupled) {
    log_warn(method + ": filter mode on a model that does not describe its channel coupling: only the filters "
             "themselves are masked, and no physically slimmed model is written");
    return out;
  }
  const std::vector<ChannelGroup>& groups = coupled->channel_groups();
  for (const FilterUnit& U : out.units) {
    if (U.n_prune == 0 || U.stream()) continue;
    size_t l = U.parts[0];
    const ChannelGroup* g = filter_group(groups, set.names[l]);
    if (!g)
      throw Error(where + ": " + method + " filter mode would remove output channels of " + set.names[l] +
                  ", which are the model's outputs or feed a residual add; exclude it (/pruning/exclude), give it "
                  "ratio 0 (/pruning/layer_ratios), or prune the stream it feeds as a whole (name the stream in "
                  "/pruning/layer_ratios, or set /pruning/prune_streams)");
    for (const std::string& o : channel_rows(model, *g)) {
      int s = store.find(o);
      if (s >= 0 && o != set.names[l]) out.coupled[l].push_back(size_t(s));  // buffers (BN statistics) are not in the store
    }
  }
  out.slim_ok = true;
  return out;
}

std::vector<double> stream_class_scores(const PrunableSet& set, const FilterUnit& unit, int power) {
  std::map<size_t, std::vector<double>> row_sums;  // weight -> per row, sum |w|^power
  for (size_t w : unit.parts) {
    const Tensor& t = set.tensors[w];
    std::vector<float> v = t.to(Device::cpu()).to_vector<float>();
    const size_t rows = size_t(t.shape()[0]), row_size = v.size() / rows;
    std::vector<double>& r = row_sums[w];
    r.assign(rows, 0.0);
    for (size_t i = 0; i < v.size(); ++i) {
      double x = std::abs(double(v[i]));
      r[i / row_size] += power == 1 ? x : x * x;
    }
  }
  std::vector<double> out;
  for (const auto& cls : unit.classes) {
    double s = 0.0;
    for (const auto& [w, row] : cls) s += row_sums[w][size_t(row)];
    out.push_back(s);
  }
  return out;
}

std::vector<int64_t> lowest(const std::vector<double>& score, int64_t n) {
  std::vector<int64_t> order(score.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return score[size_t(a)] < score[size_t(b)]; });
  order.resize(size_t(n));
  std::sort(order.begin(), order.end());
  return order;
}

void stream_rows(const FilterUnit& unit, const std::vector<int64_t>& picks, std::vector<std::vector<int64_t>>& rows) {
  for (size_t w : unit.parts) rows[w].clear();
  for (int64_t c : picks)
    for (const auto& [w, row] : unit.classes[size_t(c)]) rows[w].push_back(row);
  for (size_t w : unit.parts) std::sort(rows[w].begin(), rows[w].end());
}

std::vector<Tensor> filter_masks(const PrunableSet& set, const ParamStore& store, Tensor& mask_arena,
                                 const std::vector<std::vector<int64_t>>& rows,
                                 const std::vector<std::vector<size_t>>& coupled) {
  NoGradGuard no_grad;
  std::vector<Tensor> m;
  for (size_t l = 0; l < set.size(); ++l) {
    const Tensor& w = set.tensors[l];
    const int64_t groups = w.shape()[0], row_size = w.numel() / groups;
    std::vector<float> host(size_t(w.numel()), 1.0f), channel(size_t(groups), 1.0f);
    for (int64_t r : rows[l]) {
      std::fill(host.begin() + r * row_size, host.begin() + (r + 1) * row_size, 0.0f);
      channel[size_t(r)] = 0.0f;
    }
    m.push_back(Tensor::from_vector(w.shape(), host, w.device()));
    for (size_t s : coupled[l]) {  // dim 0 of each coupled tensor is this weight's channels
      Tensor target = store.view(mask_arena, s);
      int64_t row = target.numel() / groups;
      std::vector<float> values(size_t(target.numel()));
      for (int64_t r = 0; r < groups; ++r) std::fill_n(values.begin() + r * row, row, channel[size_t(r)]);
      target.copy_(Tensor::from_vector(target.shape(), values, w.device()));
    }
  }
  return m;
}

void export_filter_slim(Module& model, const PrunableSet& set, const FilterUnits& units,
                        const std::vector<std::vector<int64_t>>& rows, const SlimExport& out, const std::string& method,
                        nlohmann::json& summary) {
  nlohmann::json removed = nlohmann::json::object(), streams = nlohmann::json::object();
  std::map<std::string, std::vector<int64_t>> pruned;  // slim_state_dict's keys: a weight, or a stream's group
  for (size_t l = 0; l < set.size(); ++l) {
    removed[set.names[l]] = int64_t(rows[l].size());
    if (rows[l].empty()) continue;
    auto s = units.stream_of.find(l);
    if (s == units.stream_of.end()) {
      pruned[set.names[l]] = rows[l];
    } else {  // every producer of a stream lists the same rows
      pruned[s->second] = rows[l];
      streams[s->second] = int64_t(rows[l].size());
    }
  }
  summary["removed_filters"] = removed;
  if (!streams.empty()) summary["removed_stream_channels"] = streams;
  if (out.folder.empty()) return;
  if (!units.slim_ok) {
    log_warn(method + ": no physically slimmed model for this model (see the warning at start)");
    return;
  }
  std::vector<std::pair<std::string, Tensor>> slim = slim_state_dict(model, pruned);
  nlohmann::json spec = slim_model_spec(model, out.spec, pruned);
  std::vector<NamedTensor> tensors;
  int64_t params = 0;
  std::map<std::string, bool> is_param;
  for (const NamedParameter& p : model.named_parameters()) is_param[p.name] = true;
  for (const auto& [name, t] : slim) {
    tensors.push_back({name, t});
    if (is_param.count(name)) params += t.numel();
  }
  if (out.write_files) {
    save_safetensors(out.folder + "/model_slim.safetensors", tensors, {{"trim.method", method}, {"trim.model", spec.dump()}});
    write_file_atomic(out.folder + "/model_slim.json", spec.dump(2) + "\n");
  }
  summary["slim_model"] = spec;
  summary["slim_parameters"] = params;
}

}  // namespace trim
