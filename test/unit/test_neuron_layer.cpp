// IFNode / LIFNode / PLIFNode modules built from JSON specs; firing rates.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/ops/ops.h"
#include "spiking/neuron_layer.h"

using namespace trim;
using namespace trim::spiking;

namespace {

NeuronConfig parse(const nlohmann::json& j) {
  Config c(j, "net.json", "/layers/3");
  return parse_neuron_config(c);
}

std::shared_ptr<NeuronLayer> build(const nlohmann::json& j) {
  Config c(j, "net.json", "/layers/3");
  return make_neuron(c);
}

}  // namespace

TEST_CASE("neuron specs are read strictly from JSON", "[spiking][config]") {
  NeuronConfig lif = parse(nlohmann::json::parse(R"({"neuron": "lif", "tau": 3.0, "v_threshold": 0.5,
      "v_reset": null, "detach_reset": true, "decay_input": false, "surrogate": "atan", "alpha": 3.0})"));
  CHECK(lif.kind == NeuronKind::lif);
  CHECK(lif.tau == 3.0f);
  CHECK(lif.v_threshold == 0.5f);
  CHECK_FALSE(lif.v_reset.has_value());
  CHECK(lif.detach_reset);
  CHECK_FALSE(lif.decay_input);
  CHECK(lif.surrogate.kind == surrogate::Kind::atan);
  CHECK(lif.surrogate.alpha == 3.0f);

  NeuronConfig d = parse({{"neuron", "plif"}});  // SpikingJelly's defaults
  CHECK(d.kind == NeuronKind::plif);
  CHECK(d.tau == 2.0f);
  CHECK(d.decay_input);
  CHECK(d.v_threshold == 1.0f);
  CHECK(d.v_reset == std::optional<float>(0.0f));
  CHECK_FALSE(d.detach_reset);
  CHECK(d.surrogate.kind == surrogate::Kind::sigmoid);
  CHECK(d.surrogate.alpha == 4.0f);
  CHECK(parse({{"neuron", "if"}, {"surrogate", "atan"}}).surrogate.alpha == 2.0f);
  CHECK(parse({{"neuron", "if"}, {"surrogate", "piecewise_linear"}}).surrogate.alpha == 1.0f);
  CHECK(parse({{"neuron", "lif"}, {"v_reset", -0.5}}).v_reset == std::optional<float>(-0.5f));

  using Catch::Contains;
  CHECK_THROWS_WITH(parse({{"tau", 2.0}}), Contains("net.json: /layers/3/neuron: required key is missing"));
  CHECK_THROWS_WITH(parse({{"neuron", "LIFF"}}), Contains("/layers/3/neuron: expected one of"));
  CHECK_THROWS_WITH(parse({{"neuron", "if"}, {"tau", 2.0}}), Contains("/layers/3/tau: IF neurons have no leak"));
  CHECK_THROWS_WITH(parse({{"neuron", "if"}, {"decay_input", true}}), Contains("/layers/3/decay_input"));
  CHECK_THROWS_WITH(parse({{"neuron", "lif"}, {"tau", 1.0}}), Contains("/layers/3/tau: expected a number in (1, 1000000]"));
  // Checked as the float it becomes: 1 + 1e-9 passes in double and rounds to 1.0f.
  CHECK_THROWS_WITH(parse({{"neuron", "lif"}, {"tau", 1.000000001}}), Contains("/layers/3/tau: expected a number in (1, 1000000]"));
  CHECK_THROWS_WITH(parse({{"neuron", "lif"}, {"v_threshold", 1e30}}), Contains("/layers/3/v_threshold: expected a number in"));
  CHECK_THROWS_WITH(parse({{"neuron", "lif"}, {"v_reset", "none"}}),
                    Contains("/layers/3/v_reset: expected a number, or null for soft reset, found a string"));
  CHECK_THROWS_WITH(parse({{"neuron", "lif"}, {"v_reset", 1.5}}), Contains("below v_threshold"));
  CHECK_THROWS_WITH(parse({{"neuron", "lif"}, {"surrogate", "relu"}}), Contains("/layers/3/surrogate: expected one of"));
  CHECK_THROWS_WITH(parse({{"neuron", "lif"}, {"alpha", 0}}), Contains("/layers/3/alpha: expected a number in (0, 1000000]"));
  CHECK_THROWS_WITH(parse({{"neuron", "lif"}, {"detach_reset", 1}}), Contains("/layers/3/detach_reset: expected true or false"));
  CHECK_THROWS_WITH(parse({{"neuron", "lif"}, {"taus", 2.0}}), Contains("/layers/3/taus: unknown key"));
}

TEST_CASE("neuron modules: PLIF's w is a non-prunable norm parameter", "[spiking]") {
  auto plif = build({{"neuron", "plif"}, {"tau", 3.0}});
  auto params = plif->named_parameters();
  REQUIRE(params.size() == 1);
  CHECK(params[0].name == "w");
  CHECK(params[0].info.kind == ParamKind::norm);
  CHECK_FALSE(params[0].info.prunable);
  CHECK(params[0].tensor.shape() == Shape{1});
  CHECK(params[0].tensor.item() == Approx(-std::log(2.0f)));
  CHECK(logistic(params[0].tensor.item()) == Approx(1.0f / 3.0f));
  CHECK(build({{"neuron", "lif"}})->named_parameters().empty());
  CHECK(IFNode().named_parameters().empty());
  CHECK(IFNode().config().kind == NeuronKind::if_node);
  CHECK(PLIFNode().named_parameters().size() == 1);
  CHECK(plif->state_dict().size() == 1);
}

TEST_CASE("neuron modules run the fused op, stream state and record firing rates", "[spiking]") {
  NeuronConfig cfg;
  cfg.surrogate = {surrogate::Kind::atan, 2.0f};
  LIFNode lif(cfg);
  CHECK_FALSE(lif.firing_rate().defined());
  Tensor x = Tensor::from_vector(Shape{3, 1}, std::vector<float>{1.5f, 0.8f, 2.0f});
  Tensor s = lif(x);
  CHECK(s.to_vector<float>() == std::vector<float>{0, 0, 1});
  REQUIRE(lif.firing_rate().defined());
  CHECK(lif.firing_rate().shape() == Shape{});
  CHECK(lif.firing_rate().item() == Approx(1.0f / 3.0f));
  CHECK(lif(x).to_vector<float>() == s.to_vector<float>());  // stateless across calls

  auto first = lif.forward_stream(x.narrow0(0, 2), Tensor::zeros(Shape{1}));
  CHECK(first.v.item() == Approx(0.775f));
  auto next = lif.forward_stream(x.narrow0(2, 1), first.v);
  CHECK(next.spikes.item() == 1.0f);
  CHECK(lif.firing_rate().item() == 1.0f);
  lif.set_record_firing_rate(false);
  lif(Tensor::zeros(Shape{3, 1}));
  CHECK(lif.firing_rate().item() == 1.0f);  // unchanged: recording is off

  PLIFNode plif(cfg);
  Tensor xs = Tensor::from_vector(Shape{3, 1}, std::vector<float>{1.5f, 0.8f, 2.0f});
  sum(plif(xs)).backward();
  REQUIRE(plif.w.grad().defined());
  CHECK(plif.w.grad().item() == Approx(0.4416919f).epsilon(1e-6));  // oracle 3, not detached
}
