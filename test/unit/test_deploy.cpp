// trim-deploy's inference plan (apps/deploy/plan.h): folded BN, fused activations, dense and CSR
// layers give the model's own eval-mode logits, for a chain model and for a residual network that
// keeps its own forward(); the deployed file reads back and names bad CSR tensors.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <map>

#include "apps/deploy/deploy_file.h"
#include "apps/deploy/plan.h"
#include "core/autograd/grad_mode.h"
#include "core/io/safetensors.h"
#include "core/random/generator.h"
#include "core/random/philox.h"
#include "models/models.h"
#include "test/support/fixtures.h"

namespace trim {
namespace {

Tensor normal_tensor(const Shape& s, uint64_t seed, float scale = 1.0f, float shift = 0.0f) {
  std::vector<float> v(size_t(s.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = shift + scale * philox::normal(seed, 0, int64_t(i));
  return Tensor::from_vector(s, v);
}

// A trained-looking model: `sparsity` of every conv/linear weight zeroed (every k-th by position
// and magnitude-free, so rows differ), BN statistics and affine parameters away from 1/0.
std::shared_ptr<Module> pruned_model(const nlohmann::json& spec, double sparsity) {
  default_generator().set_state(5, 0);
  Config c(spec, "test", "/model");
  auto m = build_model(c);
  uint64_t seed = 100;
  for (auto& [name, mod] : m->named_modules()) {
    if (auto* w = dynamic_cast<WeightedLayer*>(mod)) {
      std::vector<float> v = w->weight.to_vector<float>();
      for (size_t i = 0; i < v.size(); ++i)
        if (philox::uniform(seed, 1, int64_t(i)) < sparsity) v[i] = 0.0f;
      w->weight.copy_(Tensor::from_vector(w->weight.shape(), v));
      if (w->bias.defined()) w->bias.copy_(normal_tensor(w->bias.shape(), seed + 1, 0.1f));
    } else if (auto* bn = dynamic_cast<BatchNorm2d*>(mod)) {
      const Shape s = bn->weight.shape();
      bn->weight.copy_(normal_tensor(s, seed + 2, 0.2f, 1.0f));
      bn->bias.copy_(normal_tensor(s, seed + 3, 0.1f));
      bn->running_mean.copy_(normal_tensor(s, seed + 4, 0.1f));
      std::vector<float> var = normal_tensor(s, seed + 5, 0.3f).to_vector<float>();
      for (float& x : var) x = 0.5f + std::abs(x);
      bn->running_var.copy_(Tensor::from_vector(s, var));
    }
    seed += 10;
  }
  m->eval();
  return m;
}

// What the plan of a model must fuse: layers, BNs folded, activations in a layer's epilogue (its
// own, or handed to it by conv_bn), and shortcuts added in a conv's epilogue.
struct Expect {
  size_t layers, folded, activations = 0, residuals = 0;
};

void check_plan(const nlohmann::json& spec, const Shape& input, const Expect& e) {
  NoGradGuard no_grad;
  auto reference = pruned_model(spec, 0.8);
  Tensor x = normal_tensor(input, 77);
  Tensor want = reference->forward(x);
  deploy::Plan plan(pruned_model(spec, 0.8), Device::cpu());
  REQUIRE(plan.layers().size() == e.layers);
  size_t n_folded = 0;
  for (const auto& l : plan.layers()) n_folded += !l.folded_bn.empty();
  CHECK(n_folded == e.folded);
  plan.capture_inputs(true);
  CHECK(deploy::relative_difference(want, plan.forward(x)) < 1e-5);
  plan.capture_inputs(false);
  size_t activations = 0, residuals = 0;
  for (size_t i = 0; i < plan.layers().size(); ++i) {
    const deploy::Plan::Call& c = plan.captured_call(i);
    activations += plan.layers()[i].act != Epilogue::none || c.act != Epilogue::none;
    residuals += c.residual.defined();
  }
  CHECK(activations == e.activations);
  CHECK(residuals == e.residuals);
  for (auto& l : plan.layers())
    if (l.sparse_capable()) l.set_format(deploy::Format::csr);
  CHECK(deploy::relative_difference(want, plan.forward(x)) < 1e-4);
  // Folding scales rows: the zeros of the pruned weights (density about 0.2) stay zeros.
  std::map<std::string, int64_t> pruned_nonzeros;
  for (auto& [name, m] : reference->named_modules())
    if (auto* w = dynamic_cast<WeightedLayer*>(m)) {
      std::vector<float> v = w->weight.to_vector<float>();
      pruned_nonzeros[name] = int64_t(std::count_if(v.begin(), v.end(), [](float a) { return a != 0.0f; }));
    }
  for (const auto& l : plan.layers()) CHECK(l.nonzeros() == pruned_nonzeros.at(l.name));
}

TEST_CASE("deploy plan: a chain model folded, fused and sparse gives the model's logits", "[deploy]") {
  // cnn_small: 2 convs (BN folded, ReLU fused), 2 linears (the first with its ReLU).
  check_plan({{"name", "cnn_small"}, {"widths", {4, 8}}, {"hidden", 16}}, Shape{3, 1, 28, 28}, {4, 2, 3, 0});
  check_plan({{"name", "mlp"}, {"hidden", {32, 16}}}, Shape{2, 1, 28, 28}, {3, 0, 2, 0});
}

TEST_CASE("deploy plan: a residual network keeps its forward, gets every BN folded and its blocks' tails fused",
          "[deploy]") {
  // resnet20 at small widths: 19 convs, each with its BN (conv1/bn1, layerN.k.conv1/bn1, conv2/bn2),
  // and fc; every conv's ReLU in its epilogue, and each of the 9 blocks' shortcut in its conv2's.
  check_plan({{"name", "resnet20"}, {"stage_widths", {4, 8, 16}}}, Shape{2, 3, 32, 32}, {20, 19, 19, 9});
  // resnet50 at small widths: 53 convs (stem, 16 blocks of 3, 4 downsample convs), fc; the
  // downsample convs' output is the shortcut, with no activation of its own.
  check_plan({{"name", "resnet50"}, {"stem_width", 4}, {"stage_widths", {8, 8, 16, 16}},
              {"widths", std::vector<int>(32, 4)}},
             Shape{1, 3, 64, 64}, {54, 53, 49, 16});
  // mobilenet_v2 at width 0.25: the conv-BN-ReLU6 units in Sequentials fused, the projections
  // (conv-BN without activation) only folded; no conv receives a shortcut (the block adds it).
  check_plan({{"name", "mobilenet_v2"}, {"width_mult", 0.25}, {"num_classes", 10}}, Shape{1, 3, 32, 32},
             {53, 52, 35, 0});
}

TEST_CASE("deploy file: written CSR layers read back, bad indices named", "[deploy]") {
  NoGradGuard no_grad;
  test::TempDir tmp("deploy_file");
  nlohmann::json spec = {{"name", "mlp"}, {"hidden", {16}}};
  auto model = pruned_model(spec, 0.9);
  deploy::Plan plan(model, Device::cpu());
  plan.layers()[0].set_format(deploy::Format::csr);
  const std::string path = tmp.file("model_deploy.safetensors");
  deploy::write_deploy_file(path, *model, plan, spec);
  deploy::DeployFileSummary s = deploy::check_deploy_file(path);
  CHECK(s.csr_layers == 1);
  CHECK(s.dense_layers == 1);
  SafetensorsFile f = load_safetensors(path);
  CHECK(f.metadata.at("1.weight.shape") == "[16,784]");
  REQUIRE(f.find("1.weight.values"));
  CHECK(f.find("1.weight.values")->numel() == plan.layers()[0].nonzeros());
  CHECK(f.find("1.weight") == nullptr);
  // A column index out of range: the check names the file and the tensor.
  std::vector<NamedTensor> bad;
  for (auto& t : f.tensors) {
    Tensor v = t.tensor;
    if (t.name == "1.weight.col_indices") {
      std::vector<int32_t> c = v.to_vector<int32_t>();
      c[0] = 784;
      v = Tensor::from_vector(v.shape(), c);
    }
    bad.push_back({t.name, v});
  }
  save_safetensors(tmp.file("bad.safetensors"), bad, f.metadata);
  try {
    deploy::check_deploy_file(tmp.file("bad.safetensors"));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("bad.safetensors") && Catch::Contains("1.weight") && Catch::Contains("784"));
  }
}

}  // namespace
}  // namespace trim
