// VGG-19 in two forms:
//   vgg19, vgg19_bn  torchvision's (configuration E): 3x3 convs with bias (+ BN), five max-pools,
//                    adaptive average pool to 7x7, classifier Linear-ReLU-Dropout x2 + Linear;
//                    convs kaiming-normal (fan_out) with bias 0, BN 1/0, linears N(0, 0.01), bias 0.
//   vgg19_cifar      GReg's (MingSun-Tse/Regularization-Pruning model/vgg.py, from EigenDamage):
//                    3x3 convs without bias + BN + ReLU, max-pools after conv 2, 4, 8 and 12 (none
//                    after the last), average pool over the remaining map, one Linear named
//                    "classifier"; convs and linear kaiming-normal (fan_in), biases 0, BN 1/0.
#include <optional>

#include "core/ops/ops.h"
#include "models/zoo.h"

namespace trim {
namespace {

// Convs per stage of VGG-19; a max-pool follows each stage.
const std::vector<int> kStages = {2, 2, 4, 4, 4};

std::vector<int64_t> default_widths() {
  std::vector<int64_t> w;
  for (size_t s = 0; s < kStages.size(); ++s) w.insert(w.end(), size_t(kStages[s]), std::min<int64_t>(64 << s, 512));
  return w;
}

class Vgg : public ZooModel {
 public:
  // torchvision == false: GReg's CIFAR form.
  Vgg(const Config& spec, bool torchvision, bool bn) {
    int64_t in = positive_option(spec, "in_channels", 3);
    int64_t classes = positive_option(spec, "num_classes", torchvision ? 1000 : 10);
    auto widths = widths_option(spec, "widths", default_widths());
    std::vector<int64_t> hidden;
    float p = 0.0f;
    if (torchvision) {
      hidden = widths_option(spec, "hidden", {4096, 4096});
      p = spec.float_in("dropout", 0.5f, Config::Interval{0.0, 1.0, false, true});
    }
    Init conv_init = torchvision ? Init::kaiming_fan_out : Init::kaiming_fan_in;
    features_ = register_module("features", std::make_shared<Sequential>());
    size_t w = 0;
    std::optional<size_t> prev;
    for (size_t s = 0; s < kStages.size(); ++s) {
      for (int i = 0; i < kStages[s]; ++i, ++w) {
        std::string conv = cat("features.", features_->size());
        if (prev) member(*prev, conv, ChannelRole::input);
        features_->push_back(make_conv(in, widths[w], 3, 1, 1, conv_init, torchvision));
        size_t g = group(conv, widths[w], true, "widths", int64_t(w));
        member(g, conv, ChannelRole::output);
        if (bn) {
          member(g, cat("features.", features_->size()), ChannelRole::norm);
          features_->push_back(std::make_shared<BatchNorm2d>(widths[w]));
        }
        features_->push_back(std::make_shared<ReLU>());
        prev = g, in = widths[w];
      }
      if (torchvision || s + 1 < kStages.size()) features_->push_back(std::make_shared<MaxPool2d>(2, 2));
    }
    if (torchvision) {
      avgpool_ = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(7));
      member(*prev, "classifier.0", ChannelRole::input, 0, 49);
      auto c = std::make_shared<Sequential>();
      c->push_back(make_linear(in * 49, hidden[0], Init::normal_001));
      c->push_back(std::make_shared<ReLU>());
      c->push_back(std::make_shared<Dropout>(p));
      c->push_back(make_linear(hidden[0], hidden[1], Init::normal_001));
      c->push_back(std::make_shared<ReLU>());
      c->push_back(std::make_shared<Dropout>(p));
      c->push_back(make_linear(hidden[1], classes, Init::normal_001));
      for (int h = 0; h < 2; ++h) {
        std::string fc = cat("classifier.", 3 * h);
        size_t g = group(fc, hidden[size_t(h)], true, "hidden", h);
        member(g, fc, ChannelRole::output);
        member(g, cat("classifier.", 3 * h + 3), ChannelRole::input);
      }
      classifier_ = register_module("classifier", std::shared_ptr<Module>(c));
    } else {
      member(*prev, "classifier", ChannelRole::input);
      classifier_ = register_module("classifier", std::shared_ptr<Module>(make_linear(in, classes, Init::kaiming_fan_in)));
    }
  }

  Tensor forward(const Tensor& x) override {
    Tensor y = (*features_)(x);
    y = avgpool_ ? (*avgpool_)(y) : global_avg_pool(y);
    return (*classifier_)(flatten(y));
  }

 private:
  std::shared_ptr<Sequential> features_;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool_;
  std::shared_ptr<Module> classifier_;
};

}  // namespace

std::shared_ptr<Module> make_vgg(const Config& spec) {
  return std::make_shared<Vgg>(spec, true, spec.get<std::string>("name") == "vgg19_bn");
}

std::shared_ptr<Module> make_vgg_cifar(const Config& spec) {
  bool bn = spec.get<bool>("batch_norm", true);
  return std::make_shared<Vgg>(spec, false, bn);
}

}  // namespace trim
