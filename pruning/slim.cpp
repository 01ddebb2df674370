#include "pruning/slim.h"

#include <algorithm>

#include "core/error.h"
#include "layers/layers.h"

namespace trim {
namespace {

std::vector<float> host(const Tensor& t) { return t.to(Device::cpu()).to_vector<float>(); }

// The rows of t (viewed as [rows, -1]) listed in `keep`.
Tensor keep_rows(const Tensor& t, const std::vector<int64_t>& keep) {
  std::vector<float> v = host(t);
  int64_t rows = t.shape()[0], row = rows ? t.numel() / rows : 0;
  std::vector<float> out;
  out.reserve(keep.size() * size_t(row));
  for (int64_t r : keep) out.insert(out.end(), v.begin() + r * row, v.begin() + (r + 1) * row);
  std::vector<int64_t> s = t.shape().vec();
  s[0] = int64_t(keep.size());
  return Tensor::from_vector(Shape(s), out);
}

// The input channels of t ([out, in, ...]) listed in `keep`, each channel `group` columns wide.
Tensor keep_cols(const Tensor& t, const std::vector<int64_t>& keep, int64_t group) {
  std::vector<float> v = host(t);
  std::vector<int64_t> s = t.shape().vec();
  int64_t out = s[0], in = s[1], inner = t.numel() / (out * in);  // kernel positions
  int64_t cols = in * inner, per_channel = group * inner;
  std::vector<float> r;
  r.reserve(size_t(out) * keep.size() * size_t(per_channel));
  for (int64_t o = 0; o < out; ++o)
    for (int64_t c : keep) {
      auto first = v.begin() + o * cols + c * per_channel;
      r.insert(r.end(), first, first + per_channel);
    }
  s[1] = int64_t(keep.size()) * group;
  return Tensor::from_vector(Shape(s), r);
}

}  // namespace

std::vector<ChannelCoupling> sequential_couplings(Module& model) {
  auto* seq = dynamic_cast<Sequential*>(&model);
  if (!seq) throw Error("slim: the model is not a Sequential; physical filter removal supports Sequential models only");
  std::vector<ChannelCoupling> out;
  for (size_t i = 0; i < seq->size(); ++i) {
    Module& m = (*seq)[i];
    std::string prefix = std::to_string(i) + ".";
    if (auto* w = dynamic_cast<WeightedLayer*>(&m)) {
      if (auto* conv = dynamic_cast<Conv2d*>(w); conv && conv->params.groups != 1)
        throw Error(cat("slim: ", prefix, "weight is a grouped convolution; its channels cannot be removed"));
      int64_t in = w->weight.shape()[1];
      if (!out.empty()) {
        ChannelCoupling& prev = out.back();
        if (in % prev.channels != 0)
          throw Error(cat("slim: ", prefix, "weight has ", in, " inputs, not a multiple of the ", prev.channels,
                          " channels of ", prev.weight));
        prev.consumer = prefix + "weight";
        prev.consumer_group = in / prev.channels;
      }
      ChannelCoupling c;
      c.weight = prefix + "weight";
      c.channels = w->weight.shape()[0];
      if (w->bias.defined()) c.outputs.push_back(prefix + "bias");
      out.push_back(c);
      continue;
    }
    for (const auto& [name, t] : m.state_dict()) {
      if (out.empty() || t.ndim() != 1 || t.shape()[0] != out.back().channels)
        throw Error(cat("slim: ", prefix, name, " (shape ", t.shape().str(), ") is not indexed by the channels of ",
                        out.empty() ? std::string("any weighted layer") : out.back().weight,
                        "; physical filter removal cannot follow it"));
      out.back().outputs.push_back(prefix + name);
    }
  }
  return out;
}

std::vector<std::pair<std::string, Tensor>> slim_state_dict(Module& model,
                                                            const std::map<std::string, std::vector<int64_t>>& pruned) {
  std::vector<ChannelCoupling> couplings = sequential_couplings(model);
  std::map<std::string, std::vector<int64_t>> keep_out;   // tensor -> kept rows
  std::map<std::string, std::pair<std::vector<int64_t>, int64_t>> keep_in;  // weight -> kept channels, group
  for (const auto& [name, rows] : pruned)
    if (std::none_of(couplings.begin(), couplings.end(), [&](const ChannelCoupling& c) { return c.weight == name; }))
      throw Error("slim: '" + name + "' is not a weight of the model's weighted layers");
  for (const ChannelCoupling& c : couplings) {
    auto it = pruned.find(c.weight);
    if (it == pruned.end() || it->second.empty()) continue;
    if (c.consumer.empty())
      throw Error("slim: " + c.weight + " is the last weighted layer (the outputs); its rows cannot be removed");
    std::vector<int64_t> keep;
    std::vector<char> gone(size_t(c.channels), 0);
    for (int64_t r : it->second) {
      if (r < 0 || r >= c.channels) throw Error(cat("slim: row ", r, " of ", c.weight, " is out of range"));
      gone[size_t(r)] = 1;
    }
    for (int64_t r = 0; r < c.channels; ++r)
      if (!gone[size_t(r)]) keep.push_back(r);
    if (keep.empty()) throw Error("slim: every channel of " + c.weight + " is pruned; a layer is never emptied");
    keep_out[c.weight] = keep;
    for (const std::string& o : c.outputs) keep_out[o] = keep;
    keep_in[c.consumer] = {keep, c.consumer_group};
  }
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, t] : model.state_dict()) {
    Tensor x = t.to(Device::cpu()).clone();
    if (auto it = keep_out.find(name); it != keep_out.end()) x = keep_rows(x, it->second);
    if (auto it = keep_in.find(name); it != keep_in.end()) x = keep_cols(x, it->second.first, it->second.second);
    out.emplace_back(name, x);
  }
  return out;
}

nlohmann::json slim_model_spec(const nlohmann::json& spec, const std::vector<int64_t>& widths) {
  std::string name = spec.value("name", "");
  nlohmann::json out = spec;
  size_t n = widths.size();
  auto slice = [&](size_t from, size_t to) { return std::vector<int64_t>(widths.begin() + from, widths.begin() + to); };
  if (name == "mlp" && n >= 1) {
    out["hidden"] = slice(0, n - 1);
  } else if (name == "sap_cnn" && n >= 2) {
    out["widths"] = slice(0, n - 1);
  } else if (name == "cnn_small" && n >= 3) {
    out["widths"] = slice(0, n - 2);
    out["hidden"] = widths[n - 2];
  } else {
    throw Error("slim: no slimmed spec for model \"" + name + "\" with " + std::to_string(n) +
                " weighted layers (known: mlp, cnn_small, sap_cnn)");
  }
  return out;
}

}  // namespace trim
