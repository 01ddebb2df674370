// The prunable set (pruning/prunable.h): defaults, glob include / exclude, and the errors.
#include <catch2/catch.hpp>

#include "layers/layers.h"
#include "pruning/prunable.h"

using namespace trim;
using Catch::Matchers::Contains;

namespace {

NamedParameter param(const std::string& name, const Shape& shape, ParamKind kind) {
  return {name, Tensor::zeros(shape), {kind, kind == ParamKind::weight && shape.ndim() > 1}};
}

// A ResNet-like parameter list: stem conv + BN, two blocks, a classifier.
std::vector<NamedParameter> resnet_like() {
  return {param("conv1.weight", Shape{4, 3, 3, 3}, ParamKind::weight),
          param("bn1.weight", Shape{4}, ParamKind::norm),
          param("bn1.bias", Shape{4}, ParamKind::norm),
          param("layer1.0.conv1.weight", Shape{4, 4, 3, 3}, ParamKind::weight),
          param("layer1.0.conv2.weight", Shape{4, 4, 3, 3}, ParamKind::weight),
          param("layer1.1.conv1.weight", Shape{4, 4, 3, 3}, ParamKind::weight),
          param("layer1.1.downsample.0.weight", Shape{4, 4, 1, 1}, ParamKind::weight),
          param("fc.weight", Shape{10, 4}, ParamKind::weight),
          param("fc.bias", Shape{10}, ParamKind::bias)};
}

std::vector<std::string> names(const std::vector<NamedParameter>& p, const PrunableFilter& f = {}) {
  return prunable_set(p, f).names;
}

}  // namespace

TEST_CASE("glob patterns: * stays inside a name component, ** crosses dots", "[pruning]") {
  CHECK(glob_match("layer1.*.conv1.weight", "layer1.0.conv1.weight"));
  CHECK(glob_match("layer1.*.conv1.weight", "layer1.12.conv1.weight"));
  CHECK_FALSE(glob_match("layer1.*.conv1.weight", "layer1.0.sub.conv1.weight"));
  CHECK_FALSE(glob_match("layer1.*.conv1.weight", "layer1.0.conv2.weight"));
  CHECK(glob_match("**.weight", "layer1.0.conv1.weight"));
  CHECK(glob_match("**", "a.b.c"));
  CHECK_FALSE(glob_match("*", "a.b"));
  CHECK(glob_match("*", "ab"));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("conv?.weight", "conv1.weight"));
  CHECK_FALSE(glob_match("conv?.weight", "conv.weight"));
  CHECK_FALSE(glob_match("a?b", "a.b"));
  CHECK(glob_match("layer*", "layer1"));
  CHECK_FALSE(glob_match("layer*", "layer1.0"));
  CHECK(glob_match("**.downsample.*", "layer1.1.downsample.0"));
  CHECK_FALSE(glob_match("conv1.weight", "xconv1.weight"));  // whole-name match
  CHECK_FALSE(glob_match("conv1.weight", "conv1.weights"));
  CHECK(glob_match("*conv*.weight", "layer1.conv2.weight") == false);
  CHECK(glob_match("**conv*.weight", "layer1.conv2.weight"));
}

TEST_CASE("the default prunable set is the conv and linear weights, in order", "[pruning]") {
  auto p = resnet_like();
  CHECK(names(p) == std::vector<std::string>{"conv1.weight", "layer1.0.conv1.weight", "layer1.0.conv2.weight",
                                             "layer1.1.conv1.weight", "layer1.1.downsample.0.weight", "fc.weight"});
  PrunableSet s = prunable_set(p);
  CHECK(s.numel() == 108 + 3 * 144 + 16 + 40);
  CHECK(s.tensors[0].impl() == p[0].tensor.impl());  // the set holds the parameters, not copies
}

TEST_CASE("a Module's named parameters give its conv and linear weights", "[pruning]") {
  Sequential net({std::make_shared<Conv2d>(Conv2dOptions{.in = 1, .out = 2, .kernel = 3}),
                  std::make_shared<BatchNorm2d>(2), std::make_shared<ReLU>(), std::make_shared<Flatten>(),
                  std::make_shared<Linear>(8, 3)});
  PrunableSet s = prunable_set(net.named_parameters());
  CHECK(s.names == std::vector<std::string>{"0.weight", "4.weight"});
  CHECK(s.numel() == 18 + 24);
}

TEST_CASE("exclude removes the first conv and the last linear", "[pruning]") {
  auto p = resnet_like();
  PrunableFilter f;
  f.exclude = {{"conv1.weight", "/pruning/exclude/0"}, {"fc.*", "/pruning/exclude/1"}};
  CHECK(names(p, f) == std::vector<std::string>{"layer1.0.conv1.weight", "layer1.0.conv2.weight",
                                                "layer1.1.conv1.weight", "layer1.1.downsample.0.weight"});
  f.exclude = {{"**.downsample.**", "x"}};
  CHECK(names(p, f).size() == 5);
}

TEST_CASE("include selects by pattern, exclude applies after it", "[pruning]") {
  auto p = resnet_like();
  PrunableFilter f;
  f.include = {{"layer1.*.conv1.weight", "/pruning/include/0"}};
  CHECK(names(p, f) == std::vector<std::string>{"layer1.0.conv1.weight", "layer1.1.conv1.weight"});
  f.include.push_back({"fc.weight", "/pruning/include/1"});
  f.exclude = {{"layer1.1.**", "/pruning/exclude/0"}};
  CHECK(names(p, f) == std::vector<std::string>{"layer1.0.conv1.weight", "fc.weight"});
}

TEST_CASE("prunable set errors name the pattern and its JSON path", "[pruning]") {
  auto p = resnet_like();
  PrunableFilter f;
  f.exclude = {{"layer9.*", "run.json: /pruning/exclude/0"}};
  CHECK_THROWS_WITH(prunable_set(p, f), Contains("run.json: /pruning/exclude/0") && Contains("'layer9.*'") &&
                                            Contains("matches no prunable parameter"));
  f.exclude = {{"fc.bias", "/pruning/exclude/0"}};  // exists, but is not in the set
  CHECK_THROWS_WITH(prunable_set(p, f), Contains("/pruning/exclude/0") && Contains("no prunable parameter"));
  f = {};
  f.include = {{"bn1.weight", "/pruning/include/0"}};
  CHECK_THROWS_WITH(prunable_set(p, f), Contains("/pruning/include/0") && Contains("'bn1.weight'") &&
                                            Contains("normalization parameter"));
  f.include = {{"**", "/pruning/include/0"}};  // would take biases and BN
  CHECK_THROWS_WITH(prunable_set(p, f), Contains("matches 'bn1.weight'"));
  f.include = {{"fc.bias", "/pruning/include/2"}};
  CHECK_THROWS_WITH(prunable_set(p, f), Contains("/pruning/include/2") && Contains("a bias"));
  f.include = {{"fc2.weight", "/pruning/include/0"}};
  CHECK_THROWS_WITH(prunable_set(p, f), Contains("/pruning/include/0") && Contains("matches no parameter"));
  f = {};
  f.exclude = {{"**", "/pruning/exclude/0"}};
  CHECK_THROWS_WITH(prunable_set(p, f), Contains("empty"));
}
