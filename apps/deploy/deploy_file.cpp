#include "apps/deploy/deploy_file.h"

#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/io/safetensors.h"

namespace trim::deploy {

void write_deploy_file(const std::string& path, Module& model, const Plan& plan, const nlohmann::json& model_spec) {
  std::vector<NamedTensor> tensors;
  std::map<std::string, std::string> meta = {{"trim.folded_batch_norm", "true"}, {"trim.model", model_spec.dump()}};
  std::set<std::string> owned;
  for (const DeployedLayer& l : plan.layers()) {
    const std::string w = l.name + ".weight";
    owned.insert(w);
    owned.insert(l.name + ".bias");
    if (!l.folded_bn.empty())
      for (const char* k : {".weight", ".bias", ".running_mean", ".running_var"}) owned.insert(l.folded_bn + k);
    meta[w + ".shape"] = nlohmann::json(l.weight_shape.vec()).dump();
    meta[w + ".format"] = format_name(l.format);
    if (l.format == Format::csr) {
      tensors.push_back({w + ".crow_indices", l.csr.row_ptr});
      tensors.push_back({w + ".col_indices", l.csr.col_idx});
      tensors.push_back({w + ".values", l.csr.values});
    } else {
      tensors.push_back({w, l.weight});
    }
    if (l.bias.defined()) tensors.push_back({l.name + ".bias", l.bias});
  }
  for (auto& [name, t] : model.state_dict())
    if (!owned.count(name)) tensors.push_back({name, t});
  save_safetensors(path, tensors, meta);
}

DeployFileSummary check_deploy_file(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error(cat(path, ": no such file (expected a model_deploy.safetensors)"));
  SafetensorsFile f = load_safetensors(path);
  DeployFileSummary s;
  s.tensors = int64_t(f.tensors.size());
  s.bytes = int64_t(std::filesystem::file_size(path));
  const std::string suffix = ".weight.format";
  for (const auto& [key, format] : f.metadata) {
    if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string w = key.substr(0, key.size() - std::string(".format").size());  // "<layer>.weight"
    auto shape_it = f.metadata.find(w + ".shape");
    if (shape_it == f.metadata.end()) throw Error(cat(path, ": ", w, ": no \"", w, ".shape\" in the metadata"));
    std::vector<int64_t> shape;
    try {
      shape = nlohmann::json::parse(shape_it->second).get<std::vector<int64_t>>();
    } catch (const nlohmann::json::exception&) {
      throw Error(cat(path, ": metadata \"", w, ".shape\": expected a JSON array of sizes, found '", shape_it->second, "'"));
    }
    if (shape.size() < 2) throw Error(cat(path, ": metadata \"", w, ".shape\": expected at least 2 sizes, found ", shape_it->second));
    int64_t cols = 1;
    for (size_t i = 1; i < shape.size(); ++i) {
      if (shape[i] < 1 || shape[0] < 1) throw Error(cat(path, ": metadata \"", w, ".shape\": sizes must be positive, found ", shape_it->second));
      cols *= shape[i];
    }
    if (format == "dense") {
      const Tensor* t = f.find(w);
      if (!t) throw Error(cat(path, ": tensor \"", w, "\" is missing (the metadata says it is dense)"));
      if (t->shape().vec() != shape)
        throw Error(cat(path, ": tensor \"", w, "\": shape ", t->shape().str(), ", the metadata says ", shape_it->second));
      ++s.dense_layers;
    } else if (format == "csr") {
      CsrMatrix m;
      const Tensor* parts[3] = {f.find(w + ".crow_indices"), f.find(w + ".col_indices"), f.find(w + ".values")};
      const char* names[3] = {".crow_indices", ".col_indices", ".values"};
      for (int i = 0; i < 3; ++i)
        if (!parts[i]) throw Error(cat(path, ": tensor \"", w, names[i], "\" is missing (the metadata says ", w, " is CSR)"));
      m.row_ptr = *parts[0];
      m.col_idx = *parts[1];
      m.values = *parts[2];
      m.rows = shape[0];
      m.cols = cols;
      m.validate(cat(path, ": tensor \"", w, "\""));
      ++s.csr_layers;
    } else {
      throw Error(cat(path, ": metadata \"", key, "\": expected \"dense\" or \"csr\", found \"", format, "\""));
    }
  }
  if (s.dense_layers + s.csr_layers == 0) throw Error(cat(path, ": no deployed layer in the metadata (not a model_deploy.safetensors)"));
  return s;
}

}  // namespace trim::deploy
