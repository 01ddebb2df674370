// MobileNets.
//   mobilenet_v1  Howard et al. 2017 with the module names of STR's and LATS's code (model.0 the
//                 stem conv-BN-ReLU, model.1..13 depthwise conv-BN-ReLU + pointwise conv-BN-ReLU,
//                 model.14 the average pool, fc the classifier). Width multiplier alpha: a layer of
//                 c channels gets max(8, int(c * alpha)) (TF-slim's rule). Convs kaiming-normal
//                 (fan_out), BN 1/0, classifier N(0, 0.01) with bias 0.
//   mobilenet_v2  torchvision's: inverted residual blocks with ReLU6, channels rounded to multiples
//                 of 8 (_make_divisible), torchvision's names and initialisation.
#include <cmath>

#include "core/ops/ops.h"
#include "models/zoo.h"

namespace trim {
namespace {

// Appends conv + BN + activation to `s` (torchvision's Conv2dNormActivation, STR's conv_bn).
void append_conv_bn_act(Sequential& s, int64_t in, int64_t out, int kernel, int stride, int groups, bool relu6) {
  s.push_back(make_conv(in, out, kernel, stride, kernel / 2, Init::kaiming_fan_out, false, groups));
  s.push_back(std::make_shared<BatchNorm2d>(out));
  if (relu6)
    s.push_back(std::make_shared<ReLU6>());
  else
    s.push_back(std::make_shared<ReLU>());
}

std::shared_ptr<Sequential> conv_bn_act(int64_t in, int64_t out, int kernel, int stride, int groups, bool relu6) {
  auto s = std::make_shared<Sequential>();
  append_conv_bn_act(*s, in, out, kernel, stride, groups, relu6);
  return s;
}

class MobileNetV1 : public ZooModel {
 public:
  explicit MobileNetV1(const Config& spec) {
    int64_t in = positive_option(spec, "in_channels", 3);
    int64_t classes = positive_option(spec, "num_classes", 1000);
    // Published multipliers are 0.25 to 1.4; 16 leaves room and keeps channel counts small integers.
    float alpha = spec.float_in("width_mult", 1.0f, Config::Interval{0.0, 16.0, true, false});
    std::string head = spec.choice("classifier", {"linear", "conv"}, "linear");
    const int64_t base[14] = {32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024};
    const int strides[13] = {1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1};
    std::vector<int64_t> width_default;
    for (int64_t c : base) width_default.push_back(std::max<int64_t>(8, int64_t(float(c) * alpha)));
    auto widths = widths_option(spec, "widths", width_default);

    model_ = register_module("model", std::make_shared<Sequential>());
    model_->push_back(conv_bn_act(in, widths[0], 3, 2, 1, false));
    size_t cur = group("model.0.0", widths[0], true, "widths", 0);
    member(cur, "model.0.0", ChannelRole::output);
    member(cur, "model.0.1", ChannelRole::norm);
    for (int i = 1; i <= 13; ++i) {
      int64_t c = widths[size_t(i) - 1], out = widths[size_t(i)];
      auto block = conv_bn_act(c, c, 3, strides[i - 1], int(c), false);  // depthwise
      append_conv_bn_act(*block, c, out, 1, 1, 1, false);                 // pointwise
      model_->push_back(block);
      std::string name = cat("model.", i, ".");
      member(cur, name + "0", ChannelRole::depthwise);
      member(cur, name + "1", ChannelRole::norm);
      member(cur, name + "3", ChannelRole::input);
      cur = group(name + "3", out, true, "widths", i);
      member(cur, name + "3", ChannelRole::output);
      member(cur, name + "4", ChannelRole::norm);
    }
    model_->push_back(std::make_shared<AdaptiveAvgPool2d>(1));
    if (head == "linear")
      fc_ = register_module("fc", std::shared_ptr<Module>(make_linear(widths[13], classes, Init::normal_001)));
    else {
      auto conv = make_conv(widths[13], classes, 1, 1, 0, Init::normal_001);
      fc_ = register_module("fc", std::shared_ptr<Module>(conv));
    }
    conv_head_ = head == "conv";
    member(cur, "fc", ChannelRole::input);
  }

  Tensor forward(const Tensor& x) override {
    Tensor y = (*model_)(x);
    return conv_head_ ? flatten((*fc_)(y)) : (*fc_)(flatten(y));
  }

 private:
  std::shared_ptr<Sequential> model_;
  std::shared_ptr<Module> fc_;
  bool conv_head_ = false;
};

// torchvision's _make_divisible: the nearest multiple of 8, never below 90% of v.
int64_t make_divisible(double v, int64_t divisor = 8) {
  int64_t n = std::max<int64_t>(divisor, int64_t(v + double(divisor) / 2) / divisor * divisor);
  if (double(n) < 0.9 * v) n += divisor;
  return n;
}

class InvertedResidual : public Module {
 public:
  InvertedResidual(int64_t in, int64_t hidden, int64_t out, int stride, bool expand)
      : residual(stride == 1 && in == out) {
    auto c = std::make_shared<Sequential>();
    if (expand) c->push_back(conv_bn_act(in, hidden, 1, 1, 1, true));
    c->push_back(conv_bn_act(hidden, hidden, 3, stride, int(hidden), true));
    c->push_back(make_conv(hidden, out, 1, 1, 0, Init::kaiming_fan_out));
    c->push_back(std::make_shared<BatchNorm2d>(out));
    conv = register_module("conv", c);
  }
  Tensor forward(const Tensor& x) override { return residual ? add(x, (*conv)(x)) : (*conv)(x); }
  std::shared_ptr<Sequential> conv;
  bool residual;
};

class MobileNetV2 : public ZooModel {
 public:
  explicit MobileNetV2(const Config& spec) {
    int64_t in = positive_option(spec, "in_channels", 3);
    int64_t classes = positive_option(spec, "num_classes", 1000);
    // Published multipliers are 0.25 to 1.4; 16 leaves room and keeps channel counts small integers.
    float alpha = spec.float_in("width_mult", 1.0f, Config::Interval{0.0, 16.0, true, false});
    float p = spec.float_in("dropout", 0.2f, Config::Interval{0.0, 1.0, false, true});
    struct Stage {
      int t;
      int64_t c;
      int n, s;
    };
    const Stage table[7] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                            {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    int64_t stem = positive_option(spec, "stem_width", make_divisible(32 * double(alpha)));
    std::vector<int64_t> stage_default;
    for (const Stage& s : table) stage_default.push_back(make_divisible(double(s.c) * double(alpha)));
    auto stages = widths_option(spec, "stage_widths", stage_default);
    int64_t last = positive_option(spec, "last_width", make_divisible(1280 * double(std::max(1.0f, alpha))));
    // Hidden widths of the expanding blocks follow the stage widths in effect (torchvision:
    // round(input channels * t)).
    std::vector<int64_t> hidden_default;
    {
      int64_t c = stem;
      for (size_t k = 0; k < 7; ++k)
        for (int b = 0; b < table[k].n; ++b) {
          if (table[k].t != 1) hidden_default.push_back(int64_t(std::llround(double(c) * table[k].t)));
          c = stages[k];
        }
    }
    auto hidden = widths_option(spec, "widths", hidden_default);

    features_ = register_module("features", std::make_shared<Sequential>());
    features_->push_back(conv_bn_act(in, stem, 3, 2, 1, true));
    size_t cur = group("features.0.0", stem, true, "stem_width");
    member(cur, "features.0.0", ChannelRole::output);
    member(cur, "features.0.1", ChannelRole::norm);
    int64_t c = stem;
    size_t h = 0;
    for (size_t k = 0; k < 7; ++k)
      for (int b = 0; b < table[k].n; ++b) {
        bool expand = table[k].t != 1;
        int stride = b == 0 ? table[k].s : 1;
        int64_t width = expand ? hidden[h] : c;
        std::string name = cat("features.", features_->size(), ".conv.");
        auto block = std::make_shared<InvertedResidual>(c, width, stages[k], stride, expand);
        features_->push_back(block);
        size_t inner = cur;
        if (expand) {
          member(cur, name + "0.0", ChannelRole::input);
          inner = group(name + "0.0", width, true, "widths", int64_t(h++));
          member(inner, name + "0.0", ChannelRole::output);
          member(inner, name + "0.1", ChannelRole::norm);
        }
        std::string dw = expand ? "1" : "0", pw = expand ? "2" : "1", bn = expand ? "3" : "2";
        member(inner, name + dw + ".0", ChannelRole::depthwise);
        member(inner, name + dw + ".1", ChannelRole::norm);
        member(inner, name + pw, ChannelRole::input);
        if (block->residual) {
          groups_[cur].prunable = false;
        } else {
          cur = group(cat("features.", features_->size() - 1, " stream"), stages[k], true, "stage_widths", int64_t(k));
        }
        member(cur, name + pw, ChannelRole::output);
        member(cur, name + bn, ChannelRole::norm);
        c = stages[k];
      }
    std::string lname = cat("features.", features_->size(), ".");
    member(cur, lname + "0", ChannelRole::input);
    features_->push_back(conv_bn_act(c, last, 1, 1, 1, true));
    size_t g = group(lname + "0", last, true, "last_width");
    member(g, lname + "0", ChannelRole::output);
    member(g, lname + "1", ChannelRole::norm);
    member(g, "classifier.1", ChannelRole::input);
    classifier_ = register_module("classifier", std::make_shared<Sequential>());
    classifier_->push_back(std::make_shared<Dropout>(p));
    classifier_->push_back(make_linear(last, classes, Init::normal_001));
  }

  Tensor forward(const Tensor& x) override { return (*classifier_)(flatten(global_avg_pool((*features_)(x)))); }

 private:
  std::shared_ptr<Sequential> features_, classifier_;
};

}  // namespace

std::shared_ptr<Module> make_mobilenet_v1(const Config& spec) { return std::make_shared<MobileNetV1>(spec); }

std::shared_ptr<Module> make_mobilenet_v2(const Config& spec) { return std::make_shared<MobileNetV2>(spec); }

}  // namespace trim
