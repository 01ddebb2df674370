#include <functional>
#include <map>

#include "models/models.h"
#include "models/zoo.h"

namespace trim {
namespace {

using Factory = std::function<std::shared_ptr<Module>(const Config&)>;

const std::map<std::string, Factory>& factories() {
  static const std::map<std::string, Factory> f = {
      {"mlp", make_mlp},
      {"sap_cnn", make_sap_cnn},
      {"cnn_small", make_cnn_small},
      {"sew_resnet18", make_sew_resnet18},
      {"sew_resnet34", make_sew_resnet34},
      {"spiking_cnn", make_spiking_cnn},
  };
  return f;
}

}  // namespace

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& [name, f] : factories()) names.push_back(name);
  return names;
}

std::shared_ptr<Module> build_model(const Config& spec) {
  std::string name = spec.choice("name", model_names(), "");
  return factories().at(name)(spec);
}

}  // namespace trim
