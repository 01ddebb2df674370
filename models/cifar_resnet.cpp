// The CIFAR ResNet-20/56 of He et al. (2016) with option-A shortcuts, as akamaster's
// pytorch_resnet_cifar10 and GReg's resnet_cifar10.py build them: a 3x3 stem of 16 channels, three
// stages of 16/32/64 channels with n basic blocks each (n = 3 or 9), global average pool, linear.
// Convs and the linear weight are kaiming-normal (fan_in), the linear bias PyTorch's default.
#include "core/ops/ops.h"
#include "layers/init.h"
#include "models/zoo.h"

namespace trim {
namespace {

class Block : public Module {
 public:
  Block(int64_t in, int64_t width, int64_t out, int stride) {
    conv1 = register_module("conv1", make_conv(in, width, 3, stride, 1, Init::kaiming_fan_in));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(width));
    conv2 = register_module("conv2", make_conv(width, out, 3, 1, 1, Init::kaiming_fan_in));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out));
    if (stride != 1 || in != out) shortcut = register_module("shortcut", std::make_shared<ShortcutA>(in, out, stride));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = conv_bn(*conv1, *bn1, x, Epilogue::relu);
    return conv_bn(*conv2, *bn2, y, Epilogue::relu, shortcut ? (*shortcut)(x) : x);
  }
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<ShortcutA> shortcut;
};

class CifarResNet : public ZooModel {
 public:
  CifarResNet(const Config& spec, int n) {
    int64_t in_channels = positive_option(spec, "in_channels", 3);
    int64_t classes = positive_option(spec, "num_classes", 10);
    auto stages = widths_option(spec, "stage_widths", {16, 32, 64});
    std::vector<int64_t> width_default;
    for (int k = 0; k < 3; ++k)
      for (int b = 0; b < n; ++b) width_default.push_back(stages[size_t(k)]);
    auto widths = widths_option(spec, "widths", width_default);
    for (int k = 1; k < 3; ++k)
      if (stages[size_t(k)] < stages[size_t(k) - 1])
        spec.fail("stage_widths", "an option-A shortcut cannot narrow the stream: stage widths must not decrease");

    conv1_ = register_module("conv1", make_conv(in_channels, stages[0], 3, 1, 1, Init::kaiming_fan_in));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(stages[0]));
    size_t cur = group("conv1 + layer1 stream", stages[0], false, "stage_widths", 0);
    member(cur, "conv1", ChannelRole::output);
    member(cur, "bn1", ChannelRole::norm);
    int64_t width = stages[0];
    for (int k = 0; k < 3; ++k) {
      auto layer = std::make_shared<Sequential>();
      std::string lname = cat("layer", k + 1);
      for (int b = 0; b < n; ++b) {
        int stride = b == 0 && k > 0 ? 2 : 1;
        std::string name = cat(lname, ".", b, ".");
        int64_t inner = widths[size_t(k * n + b)];
        auto block = std::make_shared<Block>(width, inner, stages[size_t(k)], stride);
        layer->push_back(block);
        member(cur, name + "conv1", ChannelRole::input);
        size_t g = group(name + "conv1", inner, true, "widths", k * n + b);
        member(g, name + "conv1", ChannelRole::output);
        member(g, name + "bn1", ChannelRole::norm);
        member(g, name + "conv2", ChannelRole::input);
        if (block->shortcut) {
          member(cur, name + "shortcut", ChannelRole::shortcut, (stages[size_t(k)] - width) / 2);
          groups_[cur].members.back().into = lname + " stream";
          cur = group(lname + " stream", stages[size_t(k)], false, "stage_widths", k);
        }
        member(cur, name + "conv2", ChannelRole::output);
        member(cur, name + "bn2", ChannelRole::norm);
        width = stages[size_t(k)];
      }
      layers_.push_back(register_module(lname, layer));
    }
    linear_ = register_module("linear", make_linear(width, classes, Init::torch_default));
    kaiming_normal_(linear_->weight, FanMode::fan_in);
    member(cur, "linear", ChannelRole::input);
  }

  Tensor forward(const Tensor& x) override {
    Tensor y = conv_bn(*conv1_, *bn1_, x, Epilogue::relu);
    for (auto& l : layers_) y = (*l)(y);
    return (*linear_)(flatten(global_avg_pool(y)));
  }

 private:
  std::shared_ptr<Conv2d> conv1_;
  std::shared_ptr<BatchNorm2d> bn1_;
  std::vector<std::shared_ptr<Sequential>> layers_;
  std::shared_ptr<Linear> linear_;
};

}  // namespace

std::shared_ptr<Module> make_cifar_resnet(const Config& spec) {
  return std::make_shared<CifarResNet>(spec, spec.get<std::string>("name") == "resnet20" ? 3 : 9);
}

}  // namespace trim
