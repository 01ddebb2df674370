// trim's ops against PyTorch: inputs, outputs and gradients computed by PyTorch in float64
// (scripts/make_golden.py -> test/golden/pytorch_ops.safetensors). The loss is sum(out * r).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"
#include "core/ops/ops.h"
#include "test/support/gradcheck.h"

using namespace trim;

namespace {

struct Golden {
  SafetensorsFile file = load_safetensors(TRIM_SOURCE_DIR "/test/golden/pytorch_ops.safetensors");
  Tensor get(const std::string& name, bool grad = false) const {
    const Tensor* t = file.find(name);
    REQUIRE(t);
    Tensor c = t->clone();
    if (grad) c.set_requires_grad(true);
    return c;
  }
  nlohmann::json params(const std::string& c) const { return nlohmann::json::parse(file.metadata.at(c)); }
};

// Backpropagates sum(out * r) and checks out and every listed gradient against PyTorch.
void check(const Golden& g, const std::string& c, const Tensor& out, std::vector<std::pair<std::string, Tensor>> inputs) {
  INFO(c);
  CHECK(test::rel_l2(out.to_vector<float>(), g.get(c + ".out").to_vector<float>()) < 1e-5);
  sum(mul(out, g.get(c + ".r"))).backward();
  for (auto& [name, t] : inputs) {
    INFO("gradient of " << name);
    CHECK(test::rel_l2(t.grad().to_vector<float>(), g.get(c + ".grad." + name).to_vector<float>()) < 1e-5);
  }
}

}  // namespace

TEST_CASE("conv, batch norm, pooling, linear and cross-entropy match PyTorch", "[ops][golden]") {
  Golden g;
  for (const char* c : {"conv_groups", "conv_dilated", "conv_depthwise", "conv_stem"}) {
    auto p = g.params(c);
    int s = p["stride"], pad = p["padding"], d = p["dilation"], groups = p["groups"];
    Tensor x = g.get(std::string(c) + ".x", true), w = g.get(std::string(c) + ".w", true);
    Tensor b = g.file.find(std::string(c) + ".b") ? g.get(std::string(c) + ".b", true) : Tensor();
    Tensor y = conv2d(x, w, b, Conv2dParams{s, s, pad, pad, d, d, groups});
    std::vector<std::pair<std::string, Tensor>> in{{"x", x}, {"w", w}};
    if (b.defined()) in.emplace_back("b", b);
    check(g, c, y, in);
  }
  {
    Tensor x = g.get("bn_train.x", true), gamma = g.get("bn_train.gamma", true), beta = g.get("bn_train.beta", true);
    Tensor mean = g.get("bn_train.mean"), var = g.get("bn_train.var");
    check(g, "bn_train", batch_norm(x, gamma, beta, mean, var, true, 0.1f, 1e-5f), {{"x", x}, {"gamma", gamma}, {"beta", beta}});
    CHECK(test::rel_l2(mean.to_vector<float>(), g.get("bn_train.running_mean").to_vector<float>()) < 1e-6);
    CHECK(test::rel_l2(var.to_vector<float>(), g.get("bn_train.running_var").to_vector<float>()) < 1e-6);
  }
  {
    Tensor x = g.get("bn_eval.x", true), gamma = g.get("bn_eval.gamma", true), beta = g.get("bn_eval.beta", true);
    Tensor mean = g.get("bn_eval.mean"), var = g.get("bn_eval.var");
    check(g, "bn_eval", batch_norm(x, gamma, beta, mean, var, false, 0.1f, 1e-5f), {{"x", x}, {"gamma", gamma}, {"beta", beta}});
  }
  {
    Tensor x = g.get("max_pool.x", true);
    check(g, "max_pool", max_pool2d(x, {3, 3, 2, 2, 1, 1}), {{"x", x}});
    Tensor xa = g.get("avg_pool.x", true);
    check(g, "avg_pool", avg_pool2d(xa, {3, 3, 2, 2, 1, 1}), {{"x", xa}});
  }
  {
    Tensor x = g.get("linear.x", true), w = g.get("linear.w", true), b = g.get("linear.b", true);
    check(g, "linear", linear(x, w, b), {{"x", x}, {"w", w}, {"b", b}});
  }
  for (const char* c : {"xent_0.0", "xent_0.1"}) {
    float eps = g.params(c)["label_smoothing"];
    Tensor logits = g.get(std::string(c) + ".logits", true);
    check(g, c, reshape(cross_entropy(logits, g.get(std::string(c) + ".labels"), eps), Shape{}), {{"logits", logits}});
  }
}
