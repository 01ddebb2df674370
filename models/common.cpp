#include "core/ops/ops.h"
#include "layers/init.h"
#include "models/zoo.h"

namespace trim {
namespace {

void init_weight(WeightedLayer& layer, Init init) {
  switch (init) {
    case Init::torch_default: return;  // the layer's constructor did it
    case Init::kaiming_fan_out: kaiming_normal_(layer.weight, FanMode::fan_out); break;
    case Init::kaiming_fan_in: kaiming_normal_(layer.weight, FanMode::fan_in); break;
    case Init::normal_001: normal_(layer.weight, 0.0f, 0.01f); break;
    case Init::default_weight: break;
  }
  if (layer.bias.defined()) layer.bias.zero_();
}

}  // namespace

std::shared_ptr<Conv2d> make_conv(int64_t in, int64_t out, int kernel, int stride, int padding, Init init, bool bias,
                                  int groups) {
  auto c = std::make_shared<Conv2d>(Conv2dOptions{
      .in = in, .out = out, .kernel = kernel, .stride = stride, .padding = padding, .groups = groups, .bias = bias});
  init_weight(*c, init);
  return c;
}

std::shared_ptr<Linear> make_linear(int64_t in, int64_t out, Init init, bool bias) {
  auto l = std::make_shared<Linear>(in, out, bias);
  init_weight(*l, init);
  return l;
}

std::vector<int64_t> widths_option(const Config& spec, const std::string& key, const std::vector<int64_t>& fallback) {
  auto v = spec.ints_in(key, fallback, 1, kMaxChannels, kMaxLayers);
  if (v.size() != fallback.size()) spec.fail(key, cat("expected ", fallback.size(), " widths, found ", v.size()));
  return v;
}

int64_t positive_option(const Config& spec, const std::string& key, int64_t fallback) {
  return spec.int_in(key, fallback, 1, key == "num_classes" ? kMaxClasses : kMaxChannels);
}

size_t ZooModel::group(std::string name, int64_t channels, bool prunable, std::string option, int64_t index) {
  groups_.push_back({std::move(name), channels, prunable, std::move(option), index, {}, {}});
  return groups_.size() - 1;
}

void ZooModel::member(size_t g, std::string layer, ChannelRole role, int64_t offset, int64_t spatial) {
  groups_.at(g).members.push_back({std::move(layer), role, offset, spatial, {}});
}

void ChainModel::describe_channels(const std::vector<std::pair<std::string, int64_t>>& options) {
  std::vector<size_t> weighted;
  for (size_t i = 0; i < size(); ++i)
    if (dynamic_cast<WeightedLayer*>(&(*this)[i])) weighted.push_back(i);
  TRIM_CHECK(weighted.size() == options.size() + 1, "ChainModel: one width option per weighted layer but the last");
  groups_.clear();
  for (size_t i = 0, k = 0; i < size(); ++i) {
    Module& m = (*this)[i];
    std::string name = std::to_string(i);
    if (auto* w = dynamic_cast<WeightedLayer*>(&m)) {
      if (!groups_.empty()) {
        int64_t in = w->weight.shape()[1], channels = groups_.back().channels;
        TRIM_CHECK(in % channels == 0, cat("ChainModel: layer ", name, " reads ", in, " inputs from ", channels, " channels"));
        groups_.back().members.push_back({name, ChannelRole::input, 0, in / channels, {}});
      }
      if (k < options.size()) {
        groups_.push_back({name, w->weight.shape()[0], true, options[k].first, options[k].second, {}, {}});
        groups_.back().members.push_back({name, ChannelRole::output, 0, 1, {}});
      }
      ++k;
    } else if (dynamic_cast<BatchNorm2d*>(&m)) {
      TRIM_CHECK(!groups_.empty(), "ChainModel: a BatchNorm before any weighted layer");
      groups_.back().members.push_back({name, ChannelRole::norm, 0, 1, {}});
    } else {
      TRIM_CHECK(m.state_dict().empty(), cat("ChainModel: layer ", name, " has tensors but is not channel-wise"));
    }
  }
}

}  // namespace trim
