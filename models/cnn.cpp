#include "layers/init.h"
#include "models/zoo.h"

namespace trim {
namespace {

std::shared_ptr<Conv2d> conv3x3(int64_t in, int64_t out, bool bias, FanMode mode) {
  auto c = std::make_shared<Conv2d>(Conv2dOptions{.in = in, .out = out, .kernel = 3, .padding = 1, .bias = bias});
  kaiming_normal_(c->weight, mode);
  return c;
}

}  // namespace

std::shared_ptr<Module> make_sap_cnn(const Config& spec) {
  int64_t in = spec.get<int64_t>("in_channels", 1);
  auto widths = spec.get<std::vector<int64_t>>("widths", {64, 128, 256, 512});
  int64_t classes = spec.get<int64_t>("num_classes", 10);
  if (widths.empty()) spec.fail("widths", "needs at least one width");
  auto net = std::make_shared<Sequential>();
  for (size_t i = 0; i < widths.size(); ++i) {
    auto conv = conv3x3(in, widths[i], true, FanMode::fan_out);
    conv->bias.zero_();
    net->push_back(conv);
    net->push_back(std::make_shared<BatchNorm2d>(widths[i]));
    net->push_back(std::make_shared<ReLU>());
    if (i + 1 < widths.size()) net->push_back(std::make_shared<MaxPool2d>(2, 2));
    in = widths[i];
  }
  net->push_back(std::make_shared<AdaptiveAvgPool2d>(1));
  net->push_back(std::make_shared<Flatten>());
  auto head = std::make_shared<Linear>(in, classes);
  head->bias.zero_();
  net->push_back(head);
  return net;
}

std::shared_ptr<Module> make_cnn_small(const Config& spec) {
  int64_t in = spec.get<int64_t>("in_channels", 1);
  int64_t size = spec.get<int64_t>("image_size", 28);
  auto widths = spec.get<std::vector<int64_t>>("widths", {32, 64});
  int64_t hidden = spec.get<int64_t>("hidden", 128);
  float drop = spec.get<float>("dropout", 0.0f);
  int64_t classes = spec.get<int64_t>("num_classes", 10);
  if (widths.empty()) spec.fail("widths", "needs at least one width");
  if (drop < 0.0f || drop >= 1.0f) spec.fail("dropout", "must be in [0, 1)");
  auto net = std::make_shared<Sequential>();
  for (int64_t w : widths) {
    if (size < 2) spec.fail("widths", "too many pooling stages for image_size");
    net->push_back(conv3x3(in, w, false, FanMode::fan_in));
    net->push_back(std::make_shared<BatchNorm2d>(w));
    net->push_back(std::make_shared<ReLU>());
    net->push_back(std::make_shared<MaxPool2d>(2, 2));
    in = w;
    size /= 2;
  }
  net->push_back(std::make_shared<Flatten>());
  net->push_back(std::make_shared<Linear>(in * size * size, hidden));
  net->push_back(std::make_shared<ReLU>());
  if (drop > 0.0f) net->push_back(std::make_shared<Dropout>(drop));
  net->push_back(std::make_shared<Linear>(hidden, classes));
  return net;
}

}  // namespace trim
