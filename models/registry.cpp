#include <unistd.h>


#include "core/error.h"
#include "models/models.h"
#include "models/zoo.h"

namespace trim {
namespace {

// Input shapes per example: the ImageNet models', the CIFAR ones' and the 28x28 greyscale ones'.
const Shape kImageNet{3, 224, 224}, kCifar{3, 32, 32}, kFmnist{1, 28, 28};

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

const Registry<ModelEntry>& model_registry() {
  static const Registry<ModelEntry> r("model", {
      {"mlp", {make_mlp, Shape{784}, "multilayer perceptron (SAP's MLP)"}},
      {"sap_cnn", {make_sap_cnn, kFmnist, "SAP's CNN: conv-BN-ReLU stages, global average pool"}},
      {"cnn_small", {make_cnn_small, kFmnist, "the fast default CNN: two conv stages, two linear layers"}},
      {"resnet18", {make_resnet, kImageNet, "torchvision ResNet-18"}},
      {"resnet34", {make_resnet, kImageNet, "torchvision ResNet-34"}},
      {"resnet50", {make_resnet, kImageNet, "torchvision ResNet-50 v1.5"}},
      {"mobilenet_v1", {make_mobilenet_v1, kImageNet, "MobileNet-V1 (STR's / LATS's names)"}},
      {"mobilenet_v2", {make_mobilenet_v2, kImageNet, "torchvision MobileNet-V2"}},
      {"alexnet", {make_alexnet, kImageNet, "torchvision AlexNet"}},
      {"vgg19", {make_vgg, kImageNet, "torchvision VGG-19"}},
      {"vgg19_bn", {make_vgg, kImageNet, "torchvision VGG-19 with batch norm"}},
      {"vgg19_cifar", {make_vgg_cifar, kCifar, "GReg's VGG-19 for CIFAR"}},
      {"resnet20", {make_cifar_resnet, kCifar, "CIFAR ResNet-20 (option-A shortcuts)"}},
      {"resnet56", {make_cifar_resnet, kCifar, "CIFAR ResNet-56 (option-A shortcuts)"}},
      {"preact_resnet18", {make_preact_resnet, kCifar, "SAP's pre-activation ResNet-18"}},
      {"wrn28_8", {make_wrn, kCifar, "SAP's wide ResNet-28x8"}},
      {"sew_resnet18", {make_sew_resnet18, kImageNet, "spiking SEW ResNet-18 (SpikingJelly's names)"}},
      {"sew_resnet34", {make_sew_resnet34, kImageNet, "spiking SEW ResNet-34"}},
      {"spiking_cnn", {make_spiking_cnn, kFmnist, "spiking CNN (direct encoding, T steps)"}},
  });
  return r;
}

std::shared_ptr<Module> build_model(const Config& spec) {
  std::string name = spec.choice("name", model_registry().names(), "");
  return model_registry().at(name).make(spec);
}

}  // namespace trim
