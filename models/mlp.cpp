#include "models/zoo.h"

namespace trim {

std::shared_ptr<Module> make_mlp(const Config& spec) {
  const int64_t in_features = spec.int_in("in_features", 784, 1, kMaxFeatures);
  const auto hidden = spec.ints_in("hidden", {128, 256}, 1, kMaxFeatures, kMaxLayers);  // one width per layer
  const int64_t classes = spec.int_in("num_classes", 10, 1, kMaxClasses);

  ParamCount count;
  int64_t in = in_features;
  for (int64_t h : hidden) count.add(in + 1, h), in = h;
  count.add(in + 1, classes);
  check_model_size(spec, count);

  auto net = std::make_shared<ChainModel>();
  net->push_back(std::make_shared<Flatten>());
  in = in_features;
  for (int64_t h : hidden) {
    auto fc = std::make_shared<Linear>(in, h);
    fc->bias.zero_();
    net->push_back(fc);
    net->push_back(std::make_shared<ReLU>());
    in = h;
  }
  auto head = std::make_shared<Linear>(in, classes);
  head->bias.zero_();
  net->push_back(head);
  std::vector<std::pair<std::string, int64_t>> options;
  for (size_t i = 0; i < hidden.size(); ++i) options.emplace_back("hidden", int64_t(i));
  net->describe_channels(options);
  return net;
}

}  // namespace trim
