// The op table's timing side (apps/bench): the cases made from a zoo model's layers against the
// architecture's closed counts, the layer inputs they come from, and a timed step of every table row.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "apps/bench/op_perf.h"
#include "apps/bench/zoo_cases.h"
#include "layers/layers.h"
#include "layers/profile.h"
#include "models/models.h"

using namespace trim;
using namespace trim::test;

namespace {

// Per op: {distinct shapes, layers} of a case list.
std::map<std::string, std::pair<int, int>> tally(const std::vector<OpCase>& cases) {
  std::map<std::string, std::pair<int, int>> t;
  for (const OpCase& c : cases) ++t[c.op()].first, t[c.op()].second += c.count;
  return t;
}

const OpCase* find(const std::vector<OpCase>& cases, const std::string& name) {
  for (const OpCase& c : cases)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace

TEST_CASE("layer_inputs lists every conv, batch-norm and linear layer with the input it saw", "[layers][profile]") {
  nlohmann::json j = {{"name", "cnn_small"}, {"widths", {4, 8}}, {"hidden", 16}};
  Config spec(j, "test", "/model");
  auto model = build_model(spec);
  std::vector<LayerInput> layers = layer_inputs(*model, Shape{1, 28, 28}, Device::cpu());
  std::vector<Shape> inputs;
  for (const LayerInput& l : layers) inputs.push_back(l.input);
  CHECK(inputs == std::vector<Shape>{Shape{1, 1, 28, 28}, Shape{1, 4, 28, 28}, Shape{1, 4, 14, 14},
                                     Shape{1, 8, 14, 14}, Shape{1, 8 * 7 * 7}, Shape{1, 16}});
  CHECK(layers[0].name == "0");
  CHECK(dynamic_cast<BatchNorm2d*>(layers[1].module) != nullptr);
}

// torchvision's ResNet-18 at 224x224: the stem 7x7/2; layer1's four 3x3 convs at 64x56x56; in each
// of stages 2-4 the strided 3x3 of block 0, three 3x3 convs at the stage's width (block 0's conv2,
// block 1's two) and the 1x1/2 downsample: 1 + 1 + 3 * 3 = 11 distinct conv shapes over 20 convs;
// a BN per conv (bn1, layer1's 64x56x56, one per later stage: 5 shapes, 20 layers); one classifier.
TEST_CASE("resnet18's zoo cases have torchvision's 11 distinct conv shapes over 20 convs", "[bench][models]") {
  std::vector<OpCase> cases = zoo_cases("resnet18", 8, Shape(), "test");
  auto t = tally(cases);
  CHECK(t["conv2d"] == std::pair<int, int>{11, 20});
  CHECK(t["batch_norm"] == std::pair<int, int>{5, 20});
  CHECK(t["linear"] == std::pair<int, int>{1, 1});
  CHECK(cases.size() == 17);

  const OpCase* stem = find(cases, "conv2d 8x3x224x224 k7 s2 p3 o64");
  REQUIRE(stem);
  CHECK(stem->layer == "conv1");
  CHECK_FALSE(stem->inputs[0].grad);  // the image takes no gradient
  CHECK(stem->inputs.size() == 2);    // timed without a bias
  const OpCase* l1 = find(cases, "conv2d 8x64x56x56 k3 s1 p1 o64");
  REQUIRE(l1);
  CHECK(l1->layer == "layer1.0.conv1");
  CHECK(l1->count == 4);
  CHECK(l1->inputs[0].grad);
  const OpCase* ds = find(cases, "conv2d 8x256x14x14 k1 s2 p0 o512");
  REQUIRE(ds);
  CHECK(ds->layer == "layer4.0.downsample.0");
  const OpCase* bn = find(cases, "batch_norm 8x128x28x28");
  REQUIRE(bn);
  CHECK(bn->count == 5);
  const OpCase* fc = find(cases, "linear 8x512 o1000");
  REQUIRE(fc);
  CHECK(fc->inputs.size() == 3);  // with its bias
}

TEST_CASE("sap_cnn's zoo cases are its four convs, four BNs and classifier", "[bench][models]") {
  std::vector<OpCase> cases = zoo_cases("sap_cnn", 64, Shape(), "test");
  std::vector<std::string> names;
  for (const OpCase& c : cases) names.push_back(c.name);
  CHECK(names == std::vector<std::string>{"conv2d 64x1x28x28 k3 s1 p1 o64", "batch_norm 64x64x28x28",
                                          "conv2d 64x64x14x14 k3 s1 p1 o128", "batch_norm 64x128x14x14",
                                          "conv2d 64x128x7x7 k3 s1 p1 o256", "batch_norm 64x256x7x7",
                                          "conv2d 64x256x3x3 k3 s1 p1 o512", "batch_norm 64x512x3x3",
                                          "linear 64x512 o10"});
}

// spiking_cnn folds its T = 4 time steps into the batch after the first conv and BN (direct
// encoding) and averages them before the classifier.
TEST_CASE("a spiking model's cases carry its time steps in the batch", "[bench][models]") {
  std::vector<OpCase> cases = zoo_cases("spiking_cnn", 2, Shape{1, 28, 28}, "test");
  std::vector<std::string> names;
  for (const OpCase& c : cases) names.push_back(c.name);
  CHECK(names == std::vector<std::string>{"conv2d 2x1x28x28 k3 s1 p1 o32", "batch_norm 2x32x28x28",
                                          "conv2d 8x32x14x14 k3 s1 p1 o64", "batch_norm 8x64x14x14",
                                          "linear 2x3136 o10"});
}

TEST_CASE("an unknown zoo model, or an input it cannot run, is an error naming the source", "[bench]") {
  CHECK_THROWS_WITH(zoo_cases("resnet19", 1, Shape(), "--shapes"), Catch::Contains("--shapes") && Catch::Contains("resnet19"));
  CHECK_THROWS_WITH(zoo_cases("cnn_small", 1, Shape{1, 2, 2}, "--shapes"),
                    Catch::Contains("--shapes: cnn_small does not run on the input [1, 2, 2]"));
}

TEST_CASE("every op-table row can be timed forward + backward", "[bench][ops]") {
  for (const OpCase& c : op_cases()) {
    SECTION(c.name) {
      Timing t = time_steps(timed_step(c, Device::cpu()), Device::cpu(), 1, 1, 1);
      CHECK(std::isfinite(t.median_ms));
      CHECK(t.median_ms >= 0.0);
    }
  }
}
