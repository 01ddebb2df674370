#include <catch2/catch.hpp>

#include <cmath>

#include "core/ops/ops.h"
#include "core/random/generator.h"
#include "layers/init.h"
#include "layers/layers.h"
#include "models/models.h"

using namespace trim;

namespace {
struct Block : Module {
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  Block() {
    conv1 = register_module("conv1", std::make_shared<Conv2d>(Conv2dOptions{.in = 2, .out = 3, .bias = false}));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(3));
  }
  Tensor forward(const Tensor& x) override { return (*bn1)((*conv1)(x)); }
};

std::vector<std::string> names(const std::vector<NamedParameter>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(p.name);
  return out;
}
}  // namespace

TEST_CASE("modules name parameters and buffers hierarchically, as PyTorch", "[layers]") {
  auto layer1 = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{std::make_shared<Block>()});
  struct Net : Module {
    std::shared_ptr<Sequential> layer1;
    explicit Net(std::shared_ptr<Sequential> l) { layer1 = register_module("layer1", l); }
    Tensor forward(const Tensor& x) override { return (*layer1)(x); }
  } net(layer1);
  CHECK(names(net.named_parameters()) ==
        std::vector<std::string>{"layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias"});
  auto state = net.state_dict();
  REQUIRE(state.size() == 5);
  CHECK(state[3].first == "layer1.0.bn1.running_mean");
  CHECK(state[4].first == "layer1.0.bn1.running_var");
  auto params = net.named_parameters();
  CHECK(params[0].info.prunable);
  CHECK(params[0].info.kind == ParamKind::weight);
  CHECK(params[1].info.kind == ParamKind::norm);
  CHECK_FALSE(params[1].info.prunable);
  CHECK(net.num_parameters() == 3 * 2 * 9 + 3 + 3);

  net.eval();
  CHECK_FALSE(layer1->training());
  CHECK_FALSE((*layer1)[0].training());
  net.train();
  CHECK((*layer1)[0].training());
}

TEST_CASE("load_state_dict copies values and names what is wrong", "[layers]") {
  Block a, b;
  normal_(a.conv1->weight, 0.0f, 1.0f);
  b.load_state_dict(a.state_dict(), "test.safetensors");
  CHECK(b.conv1->weight.to_vector<float>() == a.conv1->weight.to_vector<float>());
  auto state = a.state_dict();
  state.pop_back();
  CHECK_THROWS_WITH(b.load_state_dict(state, "ck.safetensors"),
                    Catch::Contains("ck.safetensors") && Catch::Contains("missing tensor 'bn1.running_var'"));
  state = a.state_dict();
  state[0].second = Tensor::zeros(Shape{3, 2, 3, 4});
  CHECK_THROWS_WITH(b.load_state_dict(state, "ck"), Catch::Contains("'conv1.weight' has shape [3, 2, 3, 4]"));
  state = a.state_dict();
  state.emplace_back("extra.weight", Tensor::zeros(Shape{1}));
  CHECK_THROWS_WITH(b.load_state_dict(state, "ck"), Catch::Contains("unexpected tensor 'extra.weight'"));
}

TEST_CASE("initialisation follows PyTorch's distributions", "[layers][init]") {
  default_generator().set_state(3, 0);
  Conv2d c(Conv2dOptions{.in = 64, .out = 128, .kernel = 3});
  double bound = 1.0 / std::sqrt(64.0 * 9.0), mx = 0, s2 = 0;
  auto w = c.weight.to_vector<float>();
  for (float x : w) mx = std::max(mx, double(std::fabs(x))), s2 += double(x) * x;
  CHECK(mx <= bound);
  CHECK(std::sqrt(s2 / double(w.size())) == Approx(bound / std::sqrt(3.0)).epsilon(0.02));
  kaiming_normal_(c.weight, FanMode::fan_in);
  s2 = 0;
  w = c.weight.to_vector<float>();
  for (float x : w) s2 += double(x) * x;
  CHECK(std::sqrt(s2 / double(w.size())) == Approx(std::sqrt(2.0 / (64 * 9))).epsilon(0.02));
  kaiming_normal_(c.weight, FanMode::fan_out);
  s2 = 0;
  w = c.weight.to_vector<float>();
  for (float x : w) s2 += double(x) * x;
  CHECK(std::sqrt(s2 / double(w.size())) == Approx(std::sqrt(2.0 / (128 * 9))).epsilon(0.02));
}

TEST_CASE("the model zoo builds every model by name with the documented sizes", "[models]") {
  auto build = [](nlohmann::json spec) {
    Config c(spec, "test");
    auto m = build_model(c);
    c.finish();
    return m;
  };
  auto mlp = build({{"name", "mlp"}});
  CHECK(mlp->num_parameters() == 784 * 128 + 128 + 128 * 256 + 256 + 256 * 10 + 10);
  auto sap = build({{"name", "sap_cnn"}});
  int64_t sap_n = 0, in = 1;
  for (int64_t w : {64, 128, 256, 512}) sap_n += w * in * 9 + w + 2 * w, in = w;
  CHECK(sap->num_parameters() == sap_n + 512 * 10 + 10);
  auto small = build({{"name", "cnn_small"}});
  CHECK(small->num_parameters() == 32 * 9 + 64 + 64 * 32 * 9 + 128 + 64 * 7 * 7 * 128 + 128 + 128 * 10 + 10);
  Tensor x = Tensor::zeros(Shape{2, 1, 28, 28});
  for (auto* m : {mlp.get(), sap.get(), small.get()}) {
    m->eval();
    CHECK((*m)(x).shape() == Shape{2, 10});
  }
  CHECK_THROWS_WITH(build({{"name", "resnet"}}), Catch::Contains("/name") && Catch::Contains("\"cnn_small\""));
  CHECK_THROWS_WITH(build({{"name", "mlp"}, {"hiden", {10}}}), Catch::Contains("/hiden: unknown key"));
  CHECK_THROWS_WITH(build({{"name", "mlp"}, {"hidden", "x"}}), Catch::Contains("/hidden: expected an array"));
}
