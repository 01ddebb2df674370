// torchvision's ResNet-18/34/50 (v1.5: the stride of a bottleneck sits on its 3x3 conv), with
// torchvision's module names and initialisation (convs kaiming-normal fan_out, BN 1/0, fc default);
// classifier "conv" makes fc a 1x1 conv without bias (LATS's and STR's ResNets, same names).
#include "core/ops/ops.h"
#include "models/zoo.h"

namespace trim {
namespace {

// One residual block; `widths` are its inner convs' outputs (1 for basic, 2 for bottleneck).
class Block : public Module {
 public:
  Block(bool bottleneck, int64_t in, const std::vector<int64_t>& widths, int64_t out, int stride) {
    if (bottleneck) {
      convs_.push_back(register_module("conv1", make_conv(in, widths[0], 1, 1, 0, Init::kaiming_fan_out)));
      bns_.push_back(register_module("bn1", std::make_shared<BatchNorm2d>(widths[0])));
      convs_.push_back(register_module("conv2", make_conv(widths[0], widths[1], 3, stride, 1, Init::kaiming_fan_out)));
      bns_.push_back(register_module("bn2", std::make_shared<BatchNorm2d>(widths[1])));
      convs_.push_back(register_module("conv3", make_conv(widths[1], out, 1, 1, 0, Init::kaiming_fan_out)));
      bns_.push_back(register_module("bn3", std::make_shared<BatchNorm2d>(out)));
    } else {
      convs_.push_back(register_module("conv1", make_conv(in, widths[0], 3, stride, 1, Init::kaiming_fan_out)));
      bns_.push_back(register_module("bn1", std::make_shared<BatchNorm2d>(widths[0])));
      convs_.push_back(register_module("conv2", make_conv(widths[0], out, 3, 1, 1, Init::kaiming_fan_out)));
      bns_.push_back(register_module("bn2", std::make_shared<BatchNorm2d>(out)));
    }
    if (stride != 1 || in != out)
      downsample_ = register_module("downsample", std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
                                                      make_conv(in, out, 1, stride, 0, Init::kaiming_fan_out),
                                                      std::make_shared<BatchNorm2d>(out)}));
  }
  bool has_downsample() const { return downsample_ != nullptr; }

  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (size_t i = 0; i + 1 < convs_.size(); ++i) y = conv_bn(*convs_[i], *bns_[i], y, Epilogue::relu);
    // The shortcut first, so that the last conv can add it in its epilogue when deployed.
    Tensor shortcut = downsample_ ? (*downsample_)(x) : x;
    return conv_bn(*convs_.back(), *bns_.back(), y, Epilogue::relu, shortcut);
  }

 private:
  std::vector<std::shared_ptr<Conv2d>> convs_;
  std::vector<std::shared_ptr<BatchNorm2d>> bns_;
  std::shared_ptr<Sequential> downsample_;
};

class ResNet : public ZooModel {
 public:
  ResNet(const Config& spec, bool bottleneck, const std::vector<int>& blocks) {
    const int inner = bottleneck ? 2 : 1;
    const int64_t expansion = bottleneck ? 4 : 1;
    int64_t in_channels = positive_option(spec, "in_channels", 3);
    int64_t classes = positive_option(spec, "num_classes", 1000);
    int64_t stem = positive_option(spec, "stem_width", 64);
    std::vector<int64_t> stage_default, width_default;
    for (int k = 0; k < 4; ++k) {
      stage_default.push_back((int64_t(64) << k) * expansion);
      for (int b = 0; b < blocks[size_t(k)] * inner; ++b) width_default.push_back(int64_t(64) << k);
    }
    auto stages = widths_option(spec, "stage_widths", stage_default);
    auto widths = widths_option(spec, "widths", width_default);

    conv1_ = register_module("conv1", make_conv(in_channels, stem, 7, 2, 3, Init::kaiming_fan_out));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(stem));
    register_module("relu", std::make_shared<ReLU>());
    maxpool_ = register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
    size_t cur = group("conv1", stem, true, "stem_width");
    member(cur, "conv1", ChannelRole::output);
    member(cur, "bn1", ChannelRole::norm);
    int64_t width = stem;
    size_t w = 0;
    for (int k = 0; k < 4; ++k) {
      auto layer = std::make_shared<Sequential>();
      std::string lname = cat("layer", k + 1);
      for (int b = 0; b < blocks[size_t(k)]; ++b) {
        int stride = b == 0 && k > 0 ? 2 : 1;
        std::string name = cat(lname, ".", b, ".");
        std::vector<int64_t> bw(widths.begin() + long(w), widths.begin() + long(w) + inner);
        auto block = std::make_shared<Block>(bottleneck, width, bw, stages[size_t(k)], stride);
        layer->push_back(block);
        member(cur, name + "conv1", ChannelRole::input);
        if (block->has_downsample()) member(cur, name + "downsample.0", ChannelRole::input);
        for (int i = 0; i < inner; ++i) {
          std::string conv = cat(name, "conv", i + 1);
          size_t g = group(conv, bw[size_t(i)], true, "widths", int64_t(w) + i);
          member(g, conv, ChannelRole::output);
          member(g, cat(name, "bn", i + 1), ChannelRole::norm);
          member(g, cat(name, "conv", i + 2), ChannelRole::input);
        }
        w += size_t(inner);
        if (block->has_downsample()) {
          cur = group(lname + " stream", stages[size_t(k)], false, "stage_widths", k);
          member(cur, name + "downsample.0", ChannelRole::output);
          member(cur, name + "downsample.1", ChannelRole::norm);
        } else {
          groups_[cur].prunable = false;  // an identity add ties it to the block's output
          if (groups_[cur].option == "stem_width") {
            groups_[cur].name = "conv1 + " + lname + " stream";
            groups_[cur].option = "stage_widths", groups_[cur].index = k;
            groups_[cur].also_options.push_back({"stem_width", -1});  // the stem makes these channels too
          }
        }
        member(cur, cat(name, "conv", inner + 1), ChannelRole::output);
        member(cur, cat(name, "bn", inner + 1), ChannelRole::norm);
        width = stages[size_t(k)];
      }
      layers_.push_back(register_module(lname, layer));
    }
    register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
    conv_head_ = spec.choice("classifier", {"linear", "conv"}, "linear") == "conv";
    if (conv_head_)  // LATS's (and STR's) ResNet-50: a 1x1 conv without bias, pruned like the others
      fc_ = register_module("fc", std::shared_ptr<Module>(make_conv(width, classes, 1, 1, 0, Init::kaiming_fan_out)));
    else
      fc_ = register_module("fc", std::shared_ptr<Module>(make_linear(width, classes, Init::torch_default)));
    member(cur, "fc", ChannelRole::input);
  }

  Tensor forward(const Tensor& x) override {
    Tensor y = (*maxpool_)(conv_bn(*conv1_, *bn1_, x, Epilogue::relu));
    for (auto& l : layers_) y = (*l)(y);
    Tensor pooled = global_avg_pool(y);
    if (conv_head_) return flatten((*fc_)(reshape(pooled, Shape{pooled.size(0), pooled.size(1), 1, 1})));
    return (*fc_)(pooled);
  }

 private:
  std::shared_ptr<Conv2d> conv1_;
  std::shared_ptr<BatchNorm2d> bn1_;
  std::shared_ptr<MaxPool2d> maxpool_;
  std::vector<std::shared_ptr<Sequential>> layers_;
  std::shared_ptr<Module> fc_;
  bool conv_head_ = false;
};

}  // namespace

std::shared_ptr<Module> make_resnet(const Config& spec) {
  std::string name = spec.get<std::string>("name");
  if (name == "resnet18") return std::make_shared<ResNet>(spec, false, std::vector<int>{2, 2, 2, 2});
  if (name == "resnet34") return std::make_shared<ResNet>(spec, false, std::vector<int>{3, 4, 6, 3});
  return std::make_shared<ResNet>(spec, true, std::vector<int>{3, 4, 6, 3});
}

}  // namespace trim
