#include "models/zoo.h"

namespace trim {

std::shared_ptr<Module> make_mlp(const Config& spec) {
  int64_t in = spec.get<int64_t>("in_features", 784);
  auto hidden = spec.get<std::vector<int64_t>>("hidden", {128, 256});
  int64_t classes = spec.get<int64_t>("num_classes", 10);
  auto net = std::make_shared<Sequential>();
  net->push_back(std::make_shared<Flatten>());
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
  return net;
}

}  // namespace trim
