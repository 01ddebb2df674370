// Layer profiles: output shapes, parameters and multiply-accumulates, dense and pruned.
#include <catch2/catch.hpp>

#include "layers/layers.h"
#include "layers/profile.h"
#include "models/models.h"

using namespace trim;

TEST_CASE("the layer profile counts conv and linear MACs per example, pruned weights excluded", "[layers][profile]") {
  nlohmann::json j = {{"name", "cnn_small"}, {"widths", {4, 8}}, {"hidden", 16}};
  Config spec(j, "test", "/model");
  auto model = build_model(spec);
  auto layers = profile_layers(*model, Shape{1, 28, 28}, Device::cpu());
  REQUIRE(layers.size() == 4);
  CHECK(layers[0].kind == "conv");
  CHECK(layers[0].output == Shape{4, 28, 28});
  CHECK(layers[0].macs == 28 * 28 * 4 * 1 * 9);
  CHECK(layers[1].macs == 14 * 14 * 8 * 4 * 9);
  CHECK(layers[2].kind == "linear");
  CHECK(layers[2].macs == 8 * 7 * 7 * 16);
  CHECK(layers[3].macs == 16 * 10);
  CHECK(layers[3].parameters == 16 * 10 + 10);
  CHECK(total_macs(layers) == total_remaining_macs(layers));
  // Zero half of the first conv's weights: its remaining MACs halve.
  for (auto& [name, m] : model->named_modules())
    if (name == layers[0].name) {
      auto* conv = dynamic_cast<Conv2d*>(m);
      std::vector<float> w = conv->weight.to_vector<float>();
      for (size_t i = 0; i < w.size(); i += 2) w[i] = 0.0f;
      conv->weight.copy_(Tensor::from_vector(conv->weight.shape(), w));
    }
  layers = profile_layers(*model, Shape{1, 28, 28}, Device::cpu());
  CHECK(layers[0].remaining_macs == 28 * 28 * 18);
  CHECK(total_macs(layers) - total_remaining_macs(layers) == 28 * 28 * 18);
}
