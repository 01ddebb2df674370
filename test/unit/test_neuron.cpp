// spiking/README.md oracles 1-5 for the fused neurons and the connect functions; time folding.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/ops/ops.h"
#include "spiking/neuron.h"
#include "spiking/sew_connect.h"

using namespace trim;
using namespace trim::spiking;

namespace {

// x as [T, 1], a leaf that requires grad.
Tensor steps(const std::vector<float>& x) {
  Tensor t = Tensor::from_vector(Shape{int64_t(x.size()), 1}, x);
  t.set_requires_grad(true);
  return t;
}

Tensor leaf1(float v) {
  Tensor t = Tensor::full(Shape{1}, v);
  t.set_requires_grad(true);
  return t;
}

void check_close(const std::vector<float>& got, const std::vector<float>& want, double tol = 1e-6) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(want[i]).margin(tol).epsilon(tol));
  }
}

NeuronConfig lif_trace(bool soft, bool detach, bool decay_input = true) {
  NeuronConfig c;
  c.kind = NeuronKind::lif;
  c.tau = 2.0f;
  c.v_reset = soft ? std::nullopt : std::optional<float>(0.0f);
  c.detach_reset = detach;
  c.decay_input = decay_input;
  c.surrogate = {surrogate::Kind::atan, 2.0f};
  return c;
}

}  // namespace

TEST_CASE("piecewise-linear surrogate: a triangle of height alpha, g continuous", "[spiking]") {
  surrogate::PiecewiseLinear p{2.0f};
  CHECK(p.grad(0.0f) == 2.0f);
  CHECK(p.grad(0.25f) == Approx(1.0f));
  CHECK(p.grad(-0.25f) == Approx(1.0f));
  CHECK(p.grad(0.5f) == 0.0f);
  CHECK(p.grad(-0.7f) == 0.0f);
  CHECK(p.g(0.0f) == 0.5f);
  CHECK(p.g(0.5f) == Approx(1.0f));
  CHECK(p.g(-0.5f) == Approx(0.0f).margin(1e-7));
  CHECK(p.g(0.25f) == Approx(0.875f));  // -2 * 0.0625 + 0.5 + 0.5
  surrogate::Surrogate s{surrogate::Kind::atan, 2.0f};
  CHECK(s.grad(0.5f) == Approx(0.2884004f).epsilon(1e-6));
  CHECK(s.g(0.5f) == Approx(0.8195465f).epsilon(1e-6));
}

TEST_CASE("oracle 2: LIF forward trace (hard, soft, decay_input off)", "[spiking]") {
  Tensor x = Tensor::from_vector(Shape{3, 1}, std::vector<float>{1.5f, 0.8f, 2.0f});
  auto hard = neuron_forward(x, lif_trace(false, false), Tensor(), Tensor(), true);
  CHECK(hard.spikes.to_vector<float>() == std::vector<float>{0, 0, 1});
  CHECK(hard.v.shape() == Shape{1});
  CHECK(hard.v.item() == 0.0f);
  auto soft = neuron_forward(x, lif_trace(true, false), Tensor(), Tensor(), true);
  CHECK(soft.spikes.to_vector<float>() == std::vector<float>{0, 0, 1});
  CHECK(soft.v.item() == Approx(0.3875f).epsilon(1e-6));
  // V after two steps is 0.775: stop there to see it.
  auto two = neuron_forward(x.narrow0(0, 2), lif_trace(false, false), Tensor(), Tensor(), true);
  CHECK(two.v.item() == Approx(0.775f).epsilon(1e-6));
  auto nodecay = neuron_forward(x, lif_trace(false, false, false), Tensor(), Tensor(), true);
  CHECK(nodecay.spikes.to_vector<float>() == std::vector<float>{1, 0, 1});
  CHECK(nodecay.v.item() == 0.0f);
  auto nodecay2 = neuron_forward(x.narrow0(0, 2), lif_trace(false, false, false), Tensor(), Tensor(), true);
  CHECK(nodecay2.v.item() == Approx(0.8f));
}

TEST_CASE("oracle 3: LIF backward through time for trace 2 (detached and not)", "[spiking]") {
  for (bool detach : {true, false}) {
    Tensor x = steps({1.5f, 0.8f, 2.0f});
    Tensor v0 = leaf1(0.0f);
    sum(neuron_forward(x, lif_trace(false, detach), v0).spikes).backward();
    if (detach) {
      check_close(x.grad().to_vector<float>(), {0.5263119f, 0.4341373f, 0.2014518f});
      CHECK(v0.grad().item() == Approx(0.5263119f).epsilon(1e-6));
    } else {
      check_close(x.grad().to_vector<float>(), {0.8233348f / 2, 0.7641668f / 2, 0.4029037f / 2});
      CHECK(v0.grad().item() == Approx(0.8233348f / 2).epsilon(1e-6));
    }
  }
}

TEST_CASE("oracle 3: PLIF's w-gradient at w = 0 (tau 2)", "[spiking]") {
  for (bool detach : {true, false}) {
    NeuronConfig c = lif_trace(false, detach);
    c.kind = NeuronKind::plif;
    Tensor x = steps({1.5f, 0.8f, 2.0f});
    Tensor w = leaf1(plif_initial_w(2.0f));
    CHECK(w.item() == 0.0f);
    auto out = neuron_forward(x, c, Tensor(), w);
    CHECK(out.spikes.to_vector<float>() == std::vector<float>{0, 0, 1});
    sum(out.spikes).backward();
    CHECK(w.grad().shape() == Shape{1});
    CHECK(w.grad().item() == Approx(detach ? 0.5289766f : 0.4416919f).epsilon(1e-6));
    if (detach) check_close(x.grad().to_vector<float>(), {0.5263119f, 0.4341373f, 0.2014518f});
  }
}

TEST_CASE("oracle 4: IF trace and backward (hard, detach, ATan)", "[spiking]") {
  NeuronConfig c;
  c.kind = NeuronKind::if_node;
  c.detach_reset = true;
  c.surrogate = {surrogate::Kind::atan, 2.0f};
  Tensor x = steps({0.6f, 0.6f, 0.6f});
  Tensor v0 = leaf1(0.0f);
  auto out = neuron_forward(x, c, v0, Tensor(), true);
  CHECK(out.spikes.to_vector<float>() == std::vector<float>{0, 1, 0});
  CHECK(out.v.item() == Approx(0.6f));
  sum(out.spikes).backward();
  check_close(x.grad().to_vector<float>(), {1.1046834f, 0.7169568f, 0.3877266f});
  CHECK(v0.grad().item() == Approx(1.1046834f).epsilon(1e-6));
}

TEST_CASE("firing exactly at threshold: Theta(0) = 1", "[spiking]") {
  NeuronConfig c;
  c.kind = NeuronKind::if_node;
  Tensor x = Tensor::from_vector(Shape{2, 2}, std::vector<float>{1.0f, 0.5f, 0.0f, 0.5f});
  CHECK(neuron_forward(x, c).spikes.to_vector<float>() == std::vector<float>{1, 0, 0, 1});
}

TEST_CASE("each call starts from the initial membrane; v0 streams the state", "[spiking]") {
  NeuronConfig c = lif_trace(false, false);
  Tensor x = Tensor::from_vector(Shape{2, 1}, std::vector<float>{1.5f, 0.8f});
  auto first = neuron_forward(x, c, Tensor(), Tensor(), true);
  auto again = neuron_forward(x, c, Tensor(), Tensor(), true);
  CHECK(again.spikes.to_vector<float>() == first.spikes.to_vector<float>());
  CHECK(again.v.item() == first.v.item());
  // Continuing with the third input from V[2] = 0.775 gives trace 2's third step.
  Tensor x3 = Tensor::from_vector(Shape{1, 1}, std::vector<float>{2.0f});
  auto third = neuron_forward(x3, c, first.v, Tensor(), true);
  CHECK(third.spikes.item() == 1.0f);
  CHECK(third.v.item() == 0.0f);
  // Soft reset starts at 0, hard reset at V_reset.
  NeuronConfig h = c;
  h.v_reset = -0.5f;
  auto hv = neuron_forward(Tensor::zeros(Shape{1, 1}), h, Tensor(), Tensor(), true);
  CHECK(hv.v.item() == Approx(-0.5f));  // V_reset + (0 - (V_reset - V_reset)) / tau
}

TEST_CASE("neuron_forward refuses bad inputs with clear messages", "[spiking]") {
  NeuronConfig lif;
  NeuronConfig plif = lif;
  plif.kind = NeuronKind::plif;
  Tensor x = Tensor::zeros(Shape{3, 2});
  CHECK_THROWS_WITH(neuron_forward(Tensor::zeros(Shape{3}), lif), Catch::Contains("[T, N, ...]"));
  CHECK_THROWS_WITH(neuron_forward(x, lif, Tensor::zeros(Shape{3})), Catch::Contains("v0"));
  CHECK_THROWS_WITH(neuron_forward(x, plif), Catch::Contains("needs its parameter w"));
  CHECK_THROWS_WITH(neuron_forward(x, lif, Tensor(), Tensor::zeros(Shape{1})), Catch::Contains("only PLIF"));
  CHECK_THROWS_WITH(neuron_forward(x, plif, Tensor(), Tensor::zeros(Shape{2})), Catch::Contains("w"));
  NeuronConfig bad = lif;
  bad.tau = 1.0f;
  CHECK_THROWS_WITH(neuron_forward(x, bad), Catch::Contains("tau must be"));
}

TEST_CASE("spike_fn fires with Theta and backpropagates the surrogate", "[spiking]") {
  Tensor h = Tensor::from_vector(Shape{3}, std::vector<float>{0.5f, 1.0f, 1.5f});
  h.set_requires_grad(true);
  Tensor s = spike_fn(h, 1.0f, {surrogate::Kind::atan, 2.0f});
  CHECK(s.to_vector<float>() == std::vector<float>{0, 1, 1});
  sum(s).backward();
  check_close(h.grad().to_vector<float>(), {0.2884004f, 1.0f, 0.2884004f});
}

TEST_CASE("repeat_time and mean_time: values and gradients", "[spiking]") {
  Tensor x = Tensor::from_vector(Shape{2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
  x.set_requires_grad(true);
  Tensor r = repeat_time(x, 4);
  CHECK(r.shape() == Shape{4, 2, 3});
  std::vector<float> rv = r.to_vector<float>();
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < 6; ++i) CHECK(rv[size_t(t * 6 + i)] == float(i + 1));
  sum(r).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>(6, 4.0f));

  Tensor y = Tensor::from_vector(Shape{4, 2}, std::vector<float>{1, 10, 2, 20, 3, 30, 6, 60});
  y.set_requires_grad(true);
  Tensor m = mean_time(y);
  CHECK(m.shape() == Shape{2});
  check_close(m.to_vector<float>(), {3.0f, 30.0f});
  sum(m).backward();
  check_close(y.grad().to_vector<float>(), std::vector<float>(8, 0.25f));
  CHECK_THROWS_WITH(repeat_time(Tensor::zeros(Shape{1, 2, 3, 4, 5}), 2), Catch::Contains("no room"));
}

TEST_CASE("oracle 5: SEW connect functions, names case-insensitive", "[spiking]") {
  Tensor a = Tensor::from_vector(Shape{4}, std::vector<float>{0, 1, 1, 0});
  Tensor i = Tensor::from_vector(Shape{4}, std::vector<float>{0, 0, 1, 1});
  CHECK(sew_connect(a, i, Connect::add).to_vector<float>() == std::vector<float>{0, 1, 2, 1});
  CHECK(sew_connect(a, i, Connect::and_).to_vector<float>() == std::vector<float>{0, 0, 1, 0});
  CHECK(sew_connect(a, i, Connect::iand).to_vector<float>() == std::vector<float>{0, 0, 0, 1});
  nlohmann::json j = {{"connect_f", "add"}, {"other", "IaNd"}, {"bad", "or"}};
  Config c(j, "model.json", "/model");
  CHECK(parse_connect(c, "connect_f") == Connect::add);
  CHECK(parse_connect(c, "other") == Connect::iand);
  CHECK(parse_connect(c, "missing", Connect::and_) == Connect::and_);
  CHECK_THROWS_WITH(parse_connect(c, "bad"), Catch::Contains("model.json: /model/bad") && Catch::Contains("\"or\""));
}
