#include <unistd.h>

#include <functional>
#include <map>

#include "core/error.h"
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
      {"resnet18", make_resnet},
      {"resnet34", make_resnet},
      {"resnet50", make_resnet},
      {"mobilenet_v1", make_mobilenet_v1},
      {"mobilenet_v2", make_mobilenet_v2},
      {"alexnet", make_alexnet},
      {"vgg19", make_vgg},
      {"vgg19_bn", make_vgg},
      {"vgg19_cifar", make_vgg_cifar},
      {"resnet20", make_cifar_resnet},
      {"resnet56", make_cifar_resnet},
      {"preact_resnet18", make_preact_resnet},
      {"wrn28_8", make_wrn},
      {"sew_resnet18", make_sew_resnet18},
      {"sew_resnet34", make_sew_resnet34},
      {"spiking_cnn", make_spiking_cnn},
  };
  return f;
}

// f32 weight, gradient, momentum and a spare (checkpoint copy, update temporaries).
constexpr uint64_t kBytesPerParameter = 16;

uint64_t physical_memory_bytes() {
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return UINT64_MAX;
  return uint64_t(pages) * uint64_t(page);
}

}  // namespace

void ParamCount::add(int64_t a, int64_t b, int64_t c, int64_t d) {
  uint64_t p = 1;
  for (int64_t x : {a, b, c, d}) overflow_ = overflow_ || x < 0 || __builtin_mul_overflow(p, uint64_t(x), &p);
  overflow_ = overflow_ || __builtin_add_overflow(n_, p, &n_);
}

void check_model_size(const Config& spec, const ParamCount& params) {
  const uint64_t memory = physical_memory_bytes();
  uint64_t bytes = 0;
  if (params.overflowed() || __builtin_mul_overflow(params.value(), kBytesPerParameter, &bytes))
    throw Error(cat(spec.source(), ": ", spec.path(), ": the model's parameter count overflows 64 bits; expected a "
                    "model that fits in memory"));
  if (bytes > memory)
    throw Error(cat(spec.source(), ": ", spec.path(), ": the model would have ", params.value(), " parameters, ",
                    bytes >> 20, " MiB with gradients and optimizer state; this machine has ", memory >> 20,
                    " MiB of memory"));
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& [name, f] : factories()) names.push_back(name);
  return names;
}

std::shared_ptr<Module> build_model(const Config& spec) {
  std::string name = spec.choice("name", model_names(), "");
  return factories().at(name)(spec);
}

Shape default_input_shape(const std::string& name) {
  if (name == "mlp") return Shape{784};
  if (name == "cnn_small" || name == "sap_cnn") return Shape{1, 28, 28};
  for (const char* cifar : {"resnet20", "resnet56", "vgg19_cifar", "preact_resnet18", "wrn28_8"})
    if (name == cifar) return Shape{3, 32, 32};
  if (!factories().count(name)) throw Error(cat("default_input_shape: unknown model '", name, "'"));
  return Shape{3, 224, 224};
}

}  // namespace trim
