// The model zoo (models/): parameter counts (torchvision's exact counts where torchvision has the
// network, the reference code's otherwise), output shapes, PyTorch state-dict names, MACs against
// torchvision, a forward pass against PyTorch with fixed weights (scripts/make_golden_models.py),
// channel groups against the built layers, and a physically slimmed rebuild that computes what the
// dense network with zeroed filters computes.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/autograd/grad_mode.h"
#include "core/io/safetensors.h"
#include "core/ops/ops.h"
#include "core/random/generator.h"
#include "layers/channels.h"
#include "layers/layers.h"
#include "layers/profile.h"
#include "models/models.h"
#include "test/support/gradcheck.h"

using namespace trim;

namespace {

std::shared_ptr<Module> build(nlohmann::json spec) {
  default_generator().set_state(0, 0);
  Config c(spec, "test");
  auto m = build_model(c);
  c.finish();
  return m;
}

std::shared_ptr<Module> named(const std::string& name) { return build(nlohmann::json{{"name", name}}); }

Tensor randn(const Shape& s) {
  Tensor t = Tensor::empty(s);
  normal_(t, 0.0f, 1.0f);
  return t;
}

struct ZooCase {
  std::string name;
  int64_t parameters;
  Shape input;  // small, to keep the forward cheap
  int64_t classes;
  int64_t macs;  // at `input`: what forward hooks on torchvision's (or the reference code's) convs and linears count
};

// torchvision's counts (torchvision 0.29); otherwise the reference code's, which round to the
// published figures: ResNet-20 0.27M, ResNet-56 0.85M, MobileNet-V1 4.2M, WRN-28-8 23.4M,
// pre-act ResNet-18 11.2M, GReg's VGG-19 20.0M (CIFAR-10).
const std::vector<ZooCase>& zoo_cases() {
  static const std::vector<ZooCase> cases = {
      {"resnet18", 11689512, Shape{3, 32, 32}, 1000, 37523456},
      {"resnet34", 21797672, Shape{3, 32, 32}, 1000, 75272192},
      {"resnet50", 25557032, Shape{3, 32, 32}, 1000, 85458944},
      {"mobilenet_v2", 3504872, Shape{3, 32, 32}, 1000, 7392128},
      {"alexnet", 61100840, Shape{3, 64, 64}, 1000, 98144960},
      {"vgg19", 143667240, Shape{3, 32, 32}, 1000, 521764864},
      {"vgg19_bn", 143678248, Shape{3, 32, 32}, 1000, 521764864},
      {"mobilenet_v1", 4231976, Shape{3, 32, 32}, 1000, -1},
      {"resnet20", 269722, Shape{3, 32, 32}, 10, 40551040},
      {"resnet56", 853018, Shape{3, 32, 32}, 10, 125485696},
      {"vgg19_cifar", 20035018, Shape{3, 32, 32}, 10, 398136320},
      {"preact_resnet18", 11172170, Shape{3, 16, 16}, 10, 138859520},
      {"wrn28_8", 23354842, Shape{3, 16, 16}, 10, 840025088},
  };
  return cases;
}

Shape batch_of(int64_t n, const Shape& s) {
  std::vector<int64_t> d{n};
  for (int i = 0; i < s.ndim(); ++i) d.push_back(s[i]);
  return Shape(d);
}

}  // namespace

// One build per model (building VGG draws 143M random numbers): parameter count, torchvision's
// state-dict names and shapes in order (test/golden/torchvision_models.json, from
// scripts/make_golden_models.py), output shape, MACs at a small input, channel groups.
TEST_CASE("every zoo model has its reference parameters, names, output shape, MACs and channel groups", "[models]") {
  std::ifstream f(TRIM_SOURCE_DIR "/test/golden/torchvision_models.json");
  REQUIRE(f);
  nlohmann::json ref = nlohmann::json::parse(f);
  for (const ZooCase& c : zoo_cases()) {
    SECTION(c.name) {
      auto m = named(c.name);
      CHECK(m->num_parameters() == c.parameters);
      if (ref.contains(c.name)) {
        const nlohmann::json& r = ref[c.name];
        CHECK(c.parameters == r["parameters"].get<int64_t>());
        auto state = m->state_dict();
        REQUIRE(state.size() == r["state"].size());
        for (size_t i = 0; i < state.size(); ++i) {
          INFO(i << ": " << state[i].first);
          CHECK(state[i].first == r["state"][i][0].get<std::string>());
          CHECK(state[i].second.shape().vec() == r["state"][i][1].get<std::vector<int64_t>>());
        }
      }
      auto layers = profile_layers(*m, c.input, Device::cpu());
      if (c.macs >= 0) CHECK(total_macs(layers) == c.macs);
      m->eval();
      {
        NoGradGuard no_grad;
        Tensor y = (*m)(randn(batch_of(2, c.input)));
        CHECK(y.shape() == Shape{2, c.classes});
        CHECK(std::isfinite(y.to_vector<float>()[0]));
      }
      const auto& groups = channel_groups(*m);
      CHECK_NOTHROW(check_channel_groups(*m, groups));
      // Every conv and linear layer makes the channels of exactly one group, except the classifier.
      std::map<std::string, int> producers;
      for (const ChannelGroup& g : groups)
        for (const ChannelMember& mem : g.members)
          if (mem.role == ChannelRole::output || mem.role == ChannelRole::depthwise) ++producers[mem.layer];
      int unowned = 0;
      for (auto& [name, mod] : m->named_modules())
        if (dynamic_cast<WeightedLayer*>(mod)) {
          INFO(name);
          CHECK(producers[name] <= 1);
          unowned += producers[name] == 0;
        }
      CHECK(unowned == 1);
    }
  }
}

TEST_CASE("multiply-accumulates at 224x224 match torchvision's and the published figures", "[models]") {
  // ResNet-50: torchvision's 4.09 G, within 1%, and exactly the hook count; MobileNet-V2 0.30 G,
  // AlexNet 0.71 G (torchvision), MobileNet-V1 569 M (Howard et al.).
  struct M {
    std::string name;
    int64_t macs;
    double published;
  };
  for (M c : {M{"resnet50", 4089184256, 4.09e9}, M{"mobilenet_v2", 300774272, 0.30e9}, M{"alexnet", 714188480, 0.71e9},
              M{"mobilenet_v1", 568740352, 0.569e9}}) {
    INFO(c.name);
    auto m = named(c.name);
    int64_t macs = total_macs(profile_layers(*m, Shape{3, 224, 224}, Device::cpu()));
    CHECK(macs == c.macs);
    CHECK(std::abs(double(macs) - c.published) <= 0.01 * c.published);
  }
}

namespace {

// The closed form of scripts/make_golden_models.py for tensor k of the state dict.
void fix_weights(Module& m) {
  NoGradGuard no_grad;
  int64_t k = 0;
  for (auto& [name, t] : m.state_dict()) {
    int64_t n = t.numel();
    std::vector<float> v(static_cast<size_t>(n));
    auto ends = [&](const std::string& s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
    for (int64_t i = 0; i < n; ++i) {
      double a = double(i) * 0.37 + 1.3 * double(k), x;
      if (t.ndim() >= 2)
        x = std::sin(a) * std::sqrt(3.0 / double(n / t.size(0)));
      else if (ends("running_mean"))
        x = 0.1 * std::cos(a);
      else if (ends("running_var"))
        x = 1 + 0.5 * std::sin(a) * std::sin(a);
      else if (ends("bias"))
        x = 0.1 * std::sin(a);
      else
        x = 1 + 0.2 * std::sin(a);
      v[size_t(i)] = float(x);
    }
    Tensor src = Tensor::from_vector(t.shape(), v);
    Tensor dst = t;
    dst.copy_(src);
    ++k;
  }
}

}  // namespace

TEST_CASE("ResNet-18 and MobileNet-V2 forward passes match PyTorch with fixed weights", "[models][golden]") {
  SafetensorsFile g = load_safetensors(TRIM_SOURCE_DIR "/test/golden/pytorch_models.safetensors");
  const Tensor* x = g.find("input");
  REQUIRE(x);
  for (const char* name : {"resnet18", "mobilenet_v2"}) {
    INFO(name);
    auto m = named(name);
    fix_weights(*m);
    m->eval();
    NoGradGuard no_grad;
    Tensor y = (*m)(*x);
    const Tensor* want = g.find(std::string(name) + ".out");
    REQUIRE(want);
    CHECK(y.shape() == want->shape());
    CHECK(test::rel_l2(y.to_vector<float>(), want->to_vector<float>()) < 1e-4);
  }
}

namespace {

// t with only the `keep` entries of `axis`.
Tensor slice_axis(const Tensor& t, int axis, const std::vector<int64_t>& keep) {
  std::vector<int64_t> dims = t.shape().vec();
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= dims[size_t(i)];
  for (size_t i = size_t(axis) + 1; i < dims.size(); ++i) inner *= dims[i];
  std::vector<float> src = t.to_vector<float>(), out;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k : keep)
      for (int64_t j = 0; j < inner; ++j) out.push_back(src[size_t((o * dims[size_t(axis)] + k) * inner + j)]);
  dims[size_t(axis)] = int64_t(keep.size());
  return Tensor::from_vector(Shape(dims), out);
}

std::vector<int64_t> columns(const std::vector<int64_t>& channels, int64_t spatial) {
  std::vector<int64_t> out;
  for (int64_t c : channels)
    for (int64_t s = 0; s < spatial; ++s) out.push_back(c * spatial + s);
  return out;
}

}  // namespace

TEST_CASE("a ResNet-56 rebuilt with half the channels of some layers has the slimmed shapes", "[models][channels]") {
  std::vector<int64_t> widths(27, 0);
  for (int k = 0; k < 3; ++k)
    for (int b = 0; b < 9; ++b) widths[size_t(k * 9 + b)] = (int64_t(16) << k) / (b % 2 == 0 ? 2 : 1);
  auto m = build({{"name", "resnet56"}, {"widths", widths}});
  std::map<std::string, Module*> mods;
  for (auto& [name, mod] : m->named_modules()) mods[name] = mod;
  for (int k = 0; k < 3; ++k)
    for (int b = 0; b < 9; ++b) {
      std::string p = cat("layer", k + 1, ".", b, ".");
      int64_t full = int64_t(16) << k, w = widths[size_t(k * 9 + b)];
      INFO(p);
      CHECK(dynamic_cast<Conv2d*>(mods.at(p + "conv1"))->weight.shape() == Shape{w, b == 0 && k > 0 ? full / 2 : full, 3, 3});
      CHECK(dynamic_cast<BatchNorm2d*>(mods.at(p + "bn1"))->weight.shape() == Shape{w});
      CHECK(dynamic_cast<Conv2d*>(mods.at(p + "conv2"))->weight.shape() == Shape{full, w, 3, 3});
    }
  CHECK(m->num_parameters() < 853018);
  auto layers = profile_layers(*m, Shape{3, 32, 32}, Device::cpu());
  CHECK(layers.back().output == Shape{10});
  CHECK(layers[1].output == Shape{8, 32, 32});  // layer1.0.conv1, halved
  CHECK_NOTHROW(check_channel_groups(*m, channel_groups(*m)));
  CHECK_THROWS_AS(build({{"name", "resnet56"}, {"widths", std::vector<int64_t>(26, 8)}}), Error);
}

TEST_CASE("removing a channel group's channels equals zeroing its filters (ResNet-56, MobileNet-V2, VGG-19)",
          "[models][channels]") {
  struct Case {
    std::string model, group;
    Shape input;
  };
  for (Case c : {Case{"resnet56", "layer2.3.conv1", Shape{2, 3, 16, 16}},
                 Case{"mobilenet_v2", "features.2.conv.0.0", Shape{2, 3, 32, 32}},
                 Case{"mobilenet_v2", "features.0.0", Shape{2, 3, 32, 32}},
                 Case{"vgg19_cifar", "features.49", Shape{2, 3, 32, 32}},
                 Case{"alexnet", "features.10", Shape{1, 3, 64, 64}}}) {
    SECTION(c.model + " " + c.group) {
      auto dense = named(c.model);
      // Random BN statistics and affine parameters, so that a zeroed filter's BN output is not 0 by accident.
      {
        NoGradGuard no_grad;
        for (auto& [name, t] : dense->state_dict())
          if (t.ndim() == 1) {
            Tensor r = randn(t.shape());
            std::vector<float> v = r.to_vector<float>();
            for (float& e : v) e = name.find("running_var") != std::string::npos ? 0.5f + std::abs(e) : 0.3f * e;
            Tensor dst = t;
            dst.copy_(Tensor::from_vector(t.shape(), v));
          }
      }
      const auto& groups = channel_groups(*dense);
      const ChannelGroup* g = nullptr;
      for (const ChannelGroup& x : groups)
        if (x.name == c.group) g = &x;
      REQUIRE(g);
      REQUIRE(g->prunable);
      std::vector<int64_t> keep, drop;
      for (int64_t i = 0; i < g->channels; ++i) (i % 2 == 1 || i == 2 ? drop : keep).push_back(i);

      // The slimmed spec: the group's option entry shrinks.
      nlohmann::json spec{{"name", c.model}};
      if (g->index >= 0) {
        std::vector<int64_t> w;
        for (const ChannelGroup& x : groups)
          if (x.option == g->option) w.resize(std::max<size_t>(w.size(), size_t(x.index) + 1)), w[size_t(x.index)] = x.channels;
        w[size_t(g->index)] = int64_t(keep.size());
        spec[g->option] = w;
      } else {
        spec[g->option] = int64_t(keep.size());
      }
      auto slim = build(spec);

      // Slice the dense tensors into the slim model, member by member.
      std::map<std::string, const ChannelMember*> role;
      for (const ChannelMember& mem : g->members) role[mem.layer] = &mem;
      std::vector<std::pair<std::string, Tensor>> sliced;
      for (auto& [name, t] : dense->state_dict()) {
        std::string layer = name.substr(0, name.rfind('.'));
        std::string what = name.substr(name.rfind('.') + 1);
        auto it = role.find(layer);
        Tensor s = t.clone();
        if (it != role.end()) {
          const ChannelMember& mem = *it->second;
          if (mem.role == ChannelRole::input) {
            if (what == "weight") s = slice_axis(t, 1, columns(keep, mem.spatial));  // not the consumer's bias
          } else if (mem.role != ChannelRole::shortcut) {
            s = slice_axis(t, 0, keep);
          }
        }
        sliced.emplace_back(name, s);
      }
      slim->load_state_dict(sliced, "sliced");

      // Zero the dropped filters of the dense model: their producers' rows and BN gamma and beta.
      {
        NoGradGuard no_grad;
        std::map<std::string, Tensor> state;
        for (auto& [name, t] : dense->state_dict()) state[name] = t;
        for (const ChannelMember& mem : g->members) {
          std::vector<std::string> names;
          if (mem.role == ChannelRole::output) names = {mem.layer + ".weight", mem.layer + ".bias"};
          if (mem.role == ChannelRole::norm) names = {mem.layer + ".weight", mem.layer + ".bias"};
          for (const std::string& n : names) {
            if (!state.count(n)) continue;
            Tensor& t = state[n];
            std::vector<float> v = t.to_vector<float>();
            int64_t row = t.numel() / t.size(0);
            for (int64_t d : drop)
              for (int64_t j = 0; j < row; ++j) v[size_t(d * row + j)] = 0.0f;
            t.copy_(Tensor::from_vector(t.shape(), v));
          }
        }
      }
      dense->eval();
      slim->eval();
      NoGradGuard no_grad;
      Tensor x = randn(c.input);
      Tensor a = (*dense)(x), b = (*slim)(x);
      REQUIRE(a.shape() == b.shape());
      CHECK(test::rel_l2(b.to_vector<float>(), a.to_vector<float>()) < 1e-5);
      CHECK(slim->num_parameters() < dense->num_parameters());
    }
  }
}

TEST_CASE("model specs with wrong width lists or unknown keys fail clearly", "[models]") {
  CHECK_THROWS_WITH(build({{"name", "vgg19_cifar"}, {"widths", {64, 64}}}), Catch::Contains("expected 16 widths, found 2"));
  CHECK_THROWS_WITH(build({{"name", "resnet20"}, {"stage_widths", {16, 0, 64}}}), Catch::Contains("/stage_widths"));
  CHECK_THROWS_WITH(build({{"name", "resnet20"}, {"stage_widths", {32, 16, 64}}}), Catch::Contains("must not decrease"));
  CHECK_THROWS_WITH(build({{"name", "mobilenet_v1"}, {"classifier", "mlp"}}), Catch::Contains("classifier"));
  CHECK_THROWS_AS(build({{"name", "resnet18"}, {"depth", 18}}), Error);
  auto mlp = named("mlp");  // a chain: its groups are derived from the layers
  CHECK_NOTHROW(check_channel_groups(*mlp, channel_groups(*mlp)));
  CHECK_THROWS_AS(channel_groups(*named("spiking_cnn")), Error);
  CHECK(model_registry().at("wrn28_8").input == Shape{3, 32, 32});
  CHECK(model_registry().at("resnet50").input == Shape{3, 224, 224});
  CHECK(model_registry().at("spiking_cnn").input == Shape{1, 28, 28});  // its default in_channels and image_size
  CHECK_THROWS_WITH(model_registry().at("resnet7"), Catch::Contains("unknown model \"resnet7\"; known: \"alexnet\""));
}

TEST_CASE("MobileNet-V1's width multiplier; conv classifiers of MobileNet-V1 and ResNet-50", "[models]") {
  // Howard et al.: 0.75 -> 2.6M, 0.5 -> 1.3M, 0.25 -> 0.5M parameters (1000 classes).
  CHECK(std::abs(double(build({{"name", "mobilenet_v1"}, {"width_mult", 0.75}})->num_parameters()) - 2.6e6) < 0.05e6);
  CHECK(std::abs(double(build({{"name", "mobilenet_v1"}, {"width_mult", 0.5}})->num_parameters()) - 1.3e6) < 0.05e6);
  CHECK(std::abs(double(build({{"name", "mobilenet_v1"}, {"width_mult", 0.25}})->num_parameters()) - 0.5e6) < 0.05e6);
  auto r50 = build({{"name", "resnet50"}, {"classifier", "conv"}});
  CHECK(r50->num_parameters() == 25557032 - 1000);
  CHECK(total_macs(profile_layers(*r50, Shape{3, 32, 32}, Device::cpu())) == 85458944);
  CHECK_NOTHROW(check_channel_groups(*r50, channel_groups(*r50)));
  auto conv_head = build({{"name", "mobilenet_v1"}, {"classifier", "conv"}});
  CHECK(conv_head->num_parameters() == 4231976 - 1000);  // no classifier bias
  conv_head->eval();
  NoGradGuard no_grad;
  CHECK((*conv_head)(randn(Shape{1, 3, 32, 32})).shape() == Shape{1, 1000});
}
