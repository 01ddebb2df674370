// torchvision's AlexNet: five convs (11x11/4, 5x5, 3x3 x3) with ReLU and three 3x3/2 max-pools,
// adaptive average pool to 6x6, classifier Dropout-Linear-ReLU x2 + Linear, PyTorch's default
// initialisation throughout (as torchvision).
#include <optional>

#include "core/ops/ops.h"
#include "models/zoo.h"

namespace trim {
namespace {

class AlexNet : public ZooModel {
 public:
  explicit AlexNet(const Config& spec) {
    int64_t in = positive_option(spec, "in_channels", 3);
    int64_t classes = positive_option(spec, "num_classes", 1000);
    auto widths = widths_option(spec, "widths", {64, 192, 384, 256, 256});
    auto hidden = widths_option(spec, "hidden", {4096, 4096});
    float p = spec.float_in("dropout", 0.5f, Config::Interval{0.0, 1.0, false, true});
    struct ConvSpec {
      int kernel, stride, padding;
      bool pool;
    };
    const ConvSpec convs[5] = {{11, 4, 2, true}, {5, 1, 2, true}, {3, 1, 1, false}, {3, 1, 1, false}, {3, 1, 1, true}};
    features_ = register_module("features", std::make_shared<Sequential>());
    std::optional<size_t> prev;
    for (size_t i = 0; i < 5; ++i) {
      std::string conv = cat("features.", features_->size());
      if (prev) member(*prev, conv, ChannelRole::input);
      features_->push_back(make_conv(in, widths[i], convs[i].kernel, convs[i].stride, convs[i].padding,
                                     Init::torch_default, true));
      size_t g = group(conv, widths[i], true, "widths", int64_t(i));
      member(g, conv, ChannelRole::output);
      features_->push_back(std::make_shared<ReLU>());
      if (convs[i].pool) features_->push_back(std::make_shared<MaxPool2d>(3, 2));
      prev = g, in = widths[i];
    }
    avgpool_ = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(6));
    member(*prev, "classifier.1", ChannelRole::input, 0, 36);
    classifier_ = register_module("classifier", std::make_shared<Sequential>());
    classifier_->push_back(std::make_shared<Dropout>(p));
    classifier_->push_back(make_linear(in * 36, hidden[0], Init::torch_default));
    classifier_->push_back(std::make_shared<ReLU>());
    classifier_->push_back(std::make_shared<Dropout>(p));
    classifier_->push_back(make_linear(hidden[0], hidden[1], Init::torch_default));
    classifier_->push_back(std::make_shared<ReLU>());
    classifier_->push_back(make_linear(hidden[1], classes, Init::torch_default));
    for (int h = 0; h < 2; ++h) {
      std::string fc = cat("classifier.", 1 + 3 * h);
      size_t g = group(fc, hidden[size_t(h)], true, "hidden", h);
      member(g, fc, ChannelRole::output);
      member(g, cat("classifier.", 4 + 2 * h), ChannelRole::input);
    }
  }

  Tensor forward(const Tensor& x) override { return (*classifier_)(flatten((*avgpool_)((*features_)(x)))); }

 private:
  std::shared_ptr<Sequential> features_, classifier_;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool_;
};

}  // namespace

std::shared_ptr<Module> make_alexnet(const Config& spec) { return std::make_shared<AlexNet>(spec); }

}  // namespace trim
