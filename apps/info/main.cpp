// trim-info: facts about a model without training it.
//   trim-info model <manifest | model-spec.json | name> [--input C,H,W] [--json]
// prints the model's conv and linear layers (name, output shape, parameters, multiply-accumulates
// per example, from one forward pass: layers/profile.h) and the totals; --json prints
//   {"model": ..., "input": [C, H, W], "parameters": N, "macs": N, "layers": [...],
//    "state_dict": [{"name": ..., "shape": [...]}, ...]}
// (state_dict: every parameter and buffer in order, the names an init_from file must hold;
// scripts/import_torchvision.py checks its files against it).
// The argument is a manifest (its "model" object), a JSON model spec (an object with "name"), or
// a model name from the zoo (models/models.h) with its default options.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/runner/manifest.h"
#include "core/error.h"
#include "core/random/generator.h"
#include "core/text.h"
#include "layers/profile.h"
#include "models/models.h"

namespace {

using trim::Shape;

Shape parse_shape(const std::string& text) {
  std::vector<int64_t> dims;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
    }
    if (used != part.size() || v < 1)
      throw trim::Error(trim::cat("--input: expected positive integers like 3,224,224, found ", trim::quote(text)));
    dims.push_back(v);
  }
  if (dims.empty()) throw trim::Error("--input: empty shape");
  return Shape(dims);
}

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"trim-info: describe models"};
  app.require_subcommand(1);
  auto* model_cmd = app.add_subcommand("model", "per-layer output shapes, parameters and multiply-accumulates");
  std::string what, input;
  bool json = false;
  model_cmd->add_option("model", what, "a manifest, a JSON model spec or a zoo model name")->required();
  model_cmd->add_option("--input", input, "input shape per example, C,H,W (default: the model's usual input)");
  model_cmd->add_flag("--json", json, "print JSON instead of a table");
  CLI11_PARSE(app, argc, argv);
  try {
    nlohmann::json spec;
    std::string source = what, path;
    if (std::filesystem::exists(what)) {
      trim::Manifest m = trim::load_manifest(what, {});
      source = m.source;
      if (m.json.contains("model")) {  // a manifest (which has a "name" of its own: the run's)
        spec = m.json["model"];
        path = "/model";
      } else if (m.json.contains("name")) {
        spec = m.json;
      } else {
        throw trim::Error(trim::cat(trim::quote(what), ": expected a model spec (with \"name\") or a manifest (with \"model\")"));
      }
    } else {
      spec = {{"name", what}};
    }
    trim::default_generator().set_state(0, 0);
    trim::Config config(spec, source, path);  // messages name the manifest's /model/... keys
    auto model = trim::build_model(config);
    config.finish();
    Shape shape = input.empty() ? trim::model_registry().at(spec.at("name").get<std::string>()).input : parse_shape(input);
    auto layers = trim::profile_layers(*model, shape, trim::Device::cpu());
    int64_t params = model->num_parameters(), macs = trim::total_macs(layers);
    if (json) {
      nlohmann::json out = {{"model", spec.at("name")}, {"input", shape.vec()}, {"parameters", params}, {"macs", macs}};
      out["layers"] = nlohmann::json::array();
      for (const auto& l : layers)
        out["layers"].push_back({{"name", l.name}, {"kind", l.kind}, {"output", l.output.vec()},
                                 {"parameters", l.parameters}, {"macs", l.macs}});
      out["state_dict"] = nlohmann::json::array();
      for (const auto& [name, t] : model->state_dict()) out["state_dict"].push_back({{"name", name}, {"shape", t.shape().vec()}});
      std::printf("%s\n", out.dump(2).c_str());
      return 0;
    }
    size_t width = 5;
    for (const auto& l : layers) width = std::max(width, l.name.size());
    std::printf("%-*s  %-6s  %-18s  %14s  %16s\n", int(width), "layer", "kind", "output", "parameters", "MACs");
    int64_t layer_params = 0;
    for (const auto& l : layers) {
      std::printf("%-*s  %-6s  %-18s  %14s  %16s\n", int(width), l.name.c_str(), l.kind.c_str(), l.output.str().c_str(),
                  with_commas(l.parameters).c_str(), with_commas(l.macs).c_str());
      layer_params += l.parameters;
    }
    std::printf("\n%s, input %s: %s parameters (%s in conv and linear layers), %s multiply-accumulates (%.3f G)\n",
                spec.at("name").get<std::string>().c_str(), shape.str().c_str(), with_commas(params).c_str(),
                with_commas(layer_params).c_str(), with_commas(macs).c_str(), double(macs) / 1e9);
  } catch (...) {
    return trim::report_exception("trim-info");  // one line, whatever the message holds
  }
  return 0;
}
