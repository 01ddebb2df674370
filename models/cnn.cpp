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
  int64_t in = spec.int_in("in_channels", 1, 1, kMaxChannels);
  const auto widths = spec.ints_in("widths", {64, 128, 256, 512}, 1, kMaxChannels, kMaxLayers);
  const int64_t classes = spec.int_in("num_classes", 10, 1, kMaxClasses);
  if (widths.empty()) spec.fail("widths", "needs at least one width");

  ParamCount count;
  int64_t c = in;
  for (int64_t w : widths) count.add(w, c, 3, 3), count.add(w, 5), c = w;  // conv + bias, BN (4 per channel)
  count.add(c + 1, classes);
  check_model_size(spec, count);

  auto net = std::make_shared<ChainModel>();
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
  std::vector<std::pair<std::string, int64_t>> options;
  for (size_t i = 0; i < widths.size(); ++i) options.emplace_back("widths", int64_t(i));
  net->describe_channels(options);
  return net;
}

std::shared_ptr<Module> make_cnn_small(const Config& spec) {
  int64_t in = spec.int_in("in_channels", 1, 1, kMaxChannels);
  int64_t size = spec.int_in("image_size", 28, 1, kMaxImageSize);  // square images of this side
  const auto widths = spec.ints_in("widths", {32, 64}, 1, kMaxChannels, kMaxLayers);
  const int64_t hidden = spec.int_in("hidden", 128, 1, kMaxFeatures);
  const float drop = spec.float_in("dropout", 0.0f, Config::Interval{0.0, 1.0, false, true});
  const int64_t classes = spec.int_in("num_classes", 10, 1, kMaxClasses);
  if (widths.empty()) spec.fail("widths", "needs at least one width");

  ParamCount count;
  int64_t c = in, s = size;
  for (int64_t w : widths) {
    if (s < 2) {
      int stages = 0;
      for (int64_t t = size; t >= 2; t /= 2) ++stages;
      spec.fail("widths", cat("image_size ", size, " allows at most ", stages,
                              " pooling stages (one per width), found ", widths.size(), " widths"));
    }
    count.add(w, c, 3, 3), count.add(w, 4), c = w, s /= 2;  // conv, BN (4 per channel)
  }
  count.add(c, s, s, hidden), count.add(hidden), count.add(hidden + 1, classes);
  check_model_size(spec, count);

  auto net = std::make_shared<ChainModel>();
  for (int64_t w : widths) {
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
  std::vector<std::pair<std::string, int64_t>> options;
  for (size_t i = 0; i < widths.size(); ++i) options.emplace_back("widths", int64_t(i));
  options.emplace_back("hidden", -1);
  net->describe_channels(options);
  return net;
}

}  // namespace trim
