// The pre-activation networks of SAP's code (diaoenmao/Pruning-Deep-Neural-Networks-from-a-
// Sparsity-Perspective, src/models/resnet.py and wresnet.py), with its module names:
//   preact_resnet18  3x3 stem conv (no BN, no max-pool), 4 stages of 2 pre-activation blocks
//                    (64/128/256/512), BN + ReLU, global average pool, linear;
//   wrn28_8          3x3 stem conv of 16, 3 stages of 4 blocks (128/256/512), BN + ReLU, pool, linear.
// A block is BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3 plus a shortcut: the input itself, or, when
// stride or width change, a 1x1 conv (no BN) of the pre-activated input. Convs kaiming-normal
// (fan_out), BN 1/0, linear weight PyTorch's default with bias 0.
#include "core/ops/ops.h"
#include "models/zoo.h"

namespace trim {
namespace {

class PreActBlock : public Module {
 public:
  PreActBlock(int64_t in, int64_t width, int64_t out, int stride, float dropout) : p(dropout) {
    n1 = register_module("n1", std::make_shared<BatchNorm2d>(in));
    conv1 = register_module("conv1", make_conv(in, width, 3, stride, 1, Init::kaiming_fan_out));
    n2 = register_module("n2", std::make_shared<BatchNorm2d>(width));
    conv2 = register_module("conv2", make_conv(width, out, 3, 1, 1, Init::kaiming_fan_out));
    if (stride != 1 || in != out) shortcut = register_module("shortcut", make_conv(in, out, 1, stride, 0, Init::kaiming_fan_out));
  }
  Tensor forward(const Tensor& x) override {
    Tensor a = n1->forward_relu(x);
    Tensor y = n2->forward_relu((*conv1)(a));
    y = (*conv2)(dropout(y, p, training()));
    return add(y, shortcut ? (*shortcut)(a) : x);
  }
  std::shared_ptr<BatchNorm2d> n1, n2;
  std::shared_ptr<Conv2d> conv1, conv2, shortcut;
  float p;
};

// SAP's WRN wraps each stage's blocks in a module with one child, "layer".
class Stage : public Module {
 public:
  explicit Stage(std::shared_ptr<Sequential> l) { layer = register_module("layer", l); }
  Tensor forward(const Tensor& x) override { return (*layer)(x); }
  std::shared_ptr<Sequential> layer;
};

class PreActNet : public ZooModel {
 protected:
  // Appends the blocks of one stage to `layer` (module names start with `prefix`) and their
  // channel groups; `cur` is the group of the stream entering it, updated to the stream leaving it.
  void stage(Sequential& layer, const std::string& prefix, const std::string& stream, int64_t& width, int64_t out,
             int blocks, int stride, const std::vector<int64_t>& widths, size_t& w, int k, float p, size_t& cur) {
    for (int b = 0; b < blocks; ++b) {
      std::string name = cat(prefix, b, ".");
      int s = b == 0 ? stride : 1;
      auto block = std::make_shared<PreActBlock>(width, widths[w], out, s, p);
      layer.push_back(block);
      member(cur, name + "n1", ChannelRole::norm);
      member(cur, name + "conv1", ChannelRole::input);
      size_t g = group(name + "conv1", widths[w], true, "widths", int64_t(w));
      member(g, name + "conv1", ChannelRole::output);
      member(g, name + "n2", ChannelRole::norm);
      member(g, name + "conv2", ChannelRole::input);
      ++w;
      if (block->shortcut) {
        member(cur, name + "shortcut", ChannelRole::input);
        cur = group(stream, out, false, "stage_widths", k);
        member(cur, name + "shortcut", ChannelRole::output);
      } else {
        groups_[cur].prunable = false;
      }
      member(cur, name + "conv2", ChannelRole::output);
      width = out;
    }
  }
};

class PreActResNet18 : public PreActNet {
 public:
  explicit PreActResNet18(const Config& spec) {
    int64_t in_channels = positive_option(spec, "in_channels", 3);
    int64_t classes = positive_option(spec, "num_classes", 10);
    auto stages = widths_option(spec, "stage_widths", {64, 128, 256, 512});
    std::vector<int64_t> width_default;
    for (int64_t s : stages) width_default.insert(width_default.end(), 2, s);
    auto widths = widths_option(spec, "widths", width_default);
    conv1_ = register_module("conv1", make_conv(in_channels, stages[0], 3, 1, 1, Init::kaiming_fan_out));
    size_t cur = group("conv1 + layer1 stream", stages[0], false, "stage_widths", 0);
    member(cur, "conv1", ChannelRole::output);
    int64_t width = stages[0];
    size_t w = 0;
    for (int k = 0; k < 4; ++k) {
      auto layer = std::make_shared<Sequential>();
      std::string lname = cat("layer", k + 1);
      stage(*layer, lname + ".", lname + " stream", width, stages[size_t(k)], 2, k == 0 ? 1 : 2, widths, w, k, 0.0f, cur);
      layers_.push_back(register_module(lname, layer));
    }
    n4_ = register_module("n4", std::make_shared<BatchNorm2d>(width));
    linear_ = register_module("linear", make_linear(width, classes, Init::default_weight));
    member(cur, "n4", ChannelRole::norm);
    member(cur, "linear", ChannelRole::input);
  }

  Tensor forward(const Tensor& x) override {
    Tensor y = (*conv1_)(x);
    for (auto& l : layers_) y = (*l)(y);
    return (*linear_)(flatten(global_avg_pool(n4_->forward_relu(y))));
  }

 private:
  std::shared_ptr<Conv2d> conv1_;
  std::vector<std::shared_ptr<Sequential>> layers_;
  std::shared_ptr<BatchNorm2d> n4_;
  std::shared_ptr<Linear> linear_;
};

class Wrn : public PreActNet {
 public:
  Wrn(const Config& spec, int blocks_per_stage, int64_t widen) {
    int64_t in_channels = positive_option(spec, "in_channels", 3);
    int64_t classes = positive_option(spec, "num_classes", 10);
    float p = spec.float_in("dropout", 0.0f, Config::Interval{0.0, 1.0, false, true});
    int64_t stem = positive_option(spec, "stem_width", 16);
    auto stages = widths_option(spec, "stage_widths", {16 * widen, 32 * widen, 64 * widen});
    std::vector<int64_t> width_default;
    for (int64_t s : stages) width_default.insert(width_default.end(), size_t(blocks_per_stage), s);
    auto widths = widths_option(spec, "widths", width_default);

    blocks_ = register_module("blocks", std::make_shared<Sequential>());
    blocks_->push_back(make_conv(in_channels, stem, 3, 1, 1, Init::kaiming_fan_out));
    size_t cur = group("blocks.0", stem, true, "stem_width");
    member(cur, "blocks.0", ChannelRole::output);
    int64_t width = stem;
    size_t w = 0;
    for (int k = 0; k < 3; ++k) {
      auto layer = std::make_shared<Sequential>();
      std::string prefix = cat("blocks.", k + 1, ".layer.");
      stage(*layer, prefix, cat("blocks.", k + 1, " stream"), width, stages[size_t(k)], blocks_per_stage, k == 0 ? 1 : 2,
            widths, w, k, p, cur);
      blocks_->push_back(std::make_shared<Stage>(layer));
    }
    blocks_->push_back(std::make_shared<BatchNorm2d>(width));
    member(cur, "blocks.4", ChannelRole::norm);
    blocks_->push_back(std::make_shared<ReLU>());
    blocks_->push_back(std::make_shared<AdaptiveAvgPool2d>(1));
    blocks_->push_back(std::make_shared<Flatten>());
    linear_ = register_module("linear", make_linear(width, classes, Init::default_weight));
    member(cur, "linear", ChannelRole::input);
  }

  Tensor forward(const Tensor& x) override { return (*linear_)((*blocks_)(x)); }

 private:
  std::shared_ptr<Sequential> blocks_;
  std::shared_ptr<Linear> linear_;
};

}  // namespace

std::shared_ptr<Module> make_preact_resnet(const Config& spec) { return std::make_shared<PreActResNet18>(spec); }

std::shared_ptr<Module> make_wrn(const Config& spec) { return std::make_shared<Wrn>(spec, 4, 8); }

}  // namespace trim
