#include "apps/bench/zoo_cases.h"

#include <map>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/error.h"
#include "layers/layers.h"
#include "layers/profile.h"
#include "models/models.h"

namespace trim::test {
namespace {

// "64x256x56x56"
std::string dims(const Shape& s) {
  std::string out;
  for (int i = 0; i < s.ndim(); ++i) {
    if (i) out += 'x';
    out += std::to_string(s[i]);
  }
  return out;
}

OpCase layer_case(const LayerInput& l, int64_t batch, bool takes_image) {
  std::vector<int64_t> d;
  for (int i = 0; i < l.input.ndim(); ++i) d.push_back(i == 0 ? batch * l.input[0] : l.input[i]);
  const Shape x(d);
  if (auto* conv = dynamic_cast<Conv2d*>(l.module)) {
    const Shape& w = conv->weight.shape();
    const Conv2dParams& p = conv->params;
    std::string key = cat(dims(x), " k", w[2], " s", p.stride_h, " p", p.pad_h, " o", w[0]);
    if (p.dil_h != 1) key += cat(" d", p.dil_h);
    if (p.groups != 1) key += cat(" g", p.groups);
    return conv2d_case("conv2d " + key, x, w, false, p, !takes_image);
  }
  if (dynamic_cast<BatchNorm2d*>(l.module)) return batch_norm_case("batch_norm " + dims(x), x, true);
  auto* fc = dynamic_cast<Linear*>(l.module);
  TRIM_CHECK(fc && x.ndim() == 2, cat("zoo_cases: layer '", l.name, "' with input ", l.input.str(),
                                      " is not a conv, batch-norm or [N, features] linear layer"));
  const Shape& w = fc->weight.shape();
  return linear_case(cat("linear ", dims(x), " o", w[0]), x, w, fc->bias.defined());
}

}  // namespace

std::vector<OpCase> zoo_cases(const std::string& model, int64_t batch, const Shape& input, const std::string& source) {
  TRIM_CHECK(batch >= 1, cat(source, ": batch must be at least 1, found ", batch));
  TRIM_CHECK(input.ndim() == 0 || input.ndim() == 3,
             cat(source, ": expected an input [C, H, W] or none (the model's default), found ", input.str()));
  nlohmann::json spec_json = {{"name", model}};
  if (input.ndim() == 3) spec_json["in_channels"] = input[0];
  Config spec(spec_json, source, "/model");
  std::shared_ptr<Module> net = build_model(spec);
  spec.finish();
  const Shape image = input.ndim() ? input : model_registry().at(model).input;
  std::vector<int64_t> one{1};
  for (int i = 0; i < image.ndim(); ++i) one.push_back(image[i]);

  std::vector<LayerInput> layers;
  try {
    layers = layer_inputs(*net, image, Device::cpu());
  } catch (const std::exception& e) {
    throw Error(cat(source, ": ", model, " does not run on the input ", image.str(), " (", e.what(), "); give the input [C, H, W] it takes"));
  }
  std::vector<OpCase> out;
  std::map<std::string, size_t> seen;  // case name -> index in out
  for (size_t i = 0; i < layers.size(); ++i) {
    // The first layer of the network sees the image itself, whose gradient nothing needs.
    OpCase c = layer_case(layers[i], batch, i == 0 && layers[i].input == Shape(one));
    auto [it, fresh] = seen.try_emplace(c.name, out.size());
    if (!fresh) {
      ++out[it->second].count;
      continue;
    }
    c.layer = layers[i].name;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace trim::test
