// Slimming through residual connections (layers/channels.h, pruning/slim.h): random channels of
// every residual stream (and of every prunable group) are zeroed in the masked model; the slimmed
// model rebuilt from slim_model_spec with slim_state_dict's tensors gives the same logits.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/autograd/grad_mode.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/random/generator.h"
#include "core/random/philox.h"
#include "layers/channels.h"
#include "layers/layers.h"
#include "models/models.h"
#include "pruning/slim.h"
#include "test/support/fixtures.h"

using namespace trim;

namespace {

std::shared_ptr<Module> build(const nlohmann::json& spec) {
  default_generator().set_state(3, 0);
  Config c(spec, "test.json", "/model");
  auto m = build_model(c);
  c.finish();
  return m;
}

Tensor normal_tensor(const Shape& s, uint64_t seed) {
  std::vector<float> v(size_t(s.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = philox::normal(seed, 0, int64_t(i));
  return Tensor::from_vector(s, v);
}

// Non-trivial BN statistics, BN affine parameters and biases, so that a channel that is not
// masked everywhere it should be shows in the logits.
void randomize_vectors(Module& m) {
  NoGradGuard no_grad;
  uint64_t k = 100;
  for (auto& [name, t] : m.state_dict()) {
    if (t.ndim() != 1 || t.dtype() != DType::f32) continue;
    std::vector<float> v = t.to_vector<float>();
    for (size_t i = 0; i < v.size(); ++i) {
      float e = philox::normal(k, 1, int64_t(i));
      if (name.find("running_var") != std::string::npos) v[i] = 0.5f + std::abs(e);
      else if (name.find(".weight") != std::string::npos) v[i] = 1.0f + 0.3f * e;
      else v[i] = 0.3f * e;
    }
    Tensor(t).copy_(Tensor::from_vector(t.shape(), v));
    ++k;
  }
}

// About a third of n, at least one, never all, drawn from `seed`.
std::vector<int64_t> some_of(int64_t n, uint64_t seed) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i)
    if (philox::uniform(seed, 2, i) < 0.33f) out.push_back(i);
  if (out.empty()) out.push_back(n / 2);
  if (int64_t(out.size()) == n) out.pop_back();
  return out;
}

// The removal: whole classes of every stream set, random rows of every other prunable group.
std::map<std::string, std::vector<int64_t>> draw_removal(const std::vector<ChannelGroup>& groups, uint64_t seed,
                                                         bool prunable_groups) {
  std::map<size_t, std::vector<int64_t>> by_group;
  for (const StreamSet& s : stream_sets(groups))
    for (int64_t c : some_of(int64_t(s.classes.size()), seed + s.streams[0]))
      for (const GroupChannel& gc : s.classes[size_t(c)]) by_group[gc.group].push_back(gc.channel);
  if (prunable_groups)
    for (size_t g = 0; g < groups.size(); ++g)
      if (groups[g].prunable && !is_stream(groups[g])) by_group[g] = some_of(groups[g].channels, seed + 1000 + g);
  std::map<std::string, std::vector<int64_t>> out;
  for (auto& [g, rows] : by_group) {
    std::sort(rows.begin(), rows.end());
    out[groups[g].name] = rows;
  }
  return out;
}

// Zeroes the removed rows of every producer, BN (weight and bias) and depthwise filter.
void mask(Module& m, const std::map<std::string, std::vector<int64_t>>& removal) {
  NoGradGuard no_grad;
  const std::vector<ChannelGroup>& groups = channel_groups(m);
  std::map<std::string, Tensor> state;
  for (auto& [n, t] : m.state_dict()) state.emplace(n, t);
  for (const auto& [key, rows] : removal) {
    const ChannelGroup* g = slim_group(groups, key);
    REQUIRE(g);
    for (const std::string& n : channel_rows(m, *g)) {
      if (n.find("running_") != std::string::npos) continue;
      Tensor t = state.at(n);
      std::vector<float> v = t.to_vector<float>();
      int64_t row = t.numel() / t.shape()[0];
      for (int64_t r : rows) std::fill(v.begin() + r * row, v.begin() + (r + 1) * row, 0.0f);
      t.copy_(Tensor::from_vector(t.shape(), v));
    }
  }
}

std::vector<float> logits(Module& m, const Tensor& x) {
  NoGradGuard no_grad;
  m.eval();
  return m(x).to_vector<float>();
}

// The key check: masked model == slimmed model (relative 1e-4 of the largest logit), and the
// masking changed the logits (so the comparison can fail).
void check_slim_matches_masked(const nlohmann::json& spec, const Shape& input, bool prunable_groups, uint64_t seed) {
  auto model = build(spec);
  randomize_vectors(*model);
  const std::vector<ChannelGroup>& groups = channel_groups(*model);
  REQUIRE_NOTHROW(check_channel_groups(*model, groups));
  auto removal = draw_removal(groups, seed, prunable_groups);
  Tensor x = normal_tensor(input, seed + 7);
  std::vector<float> dense = logits(*model, x);

  auto state = slim_state_dict(*model, removal);
  nlohmann::json slim_spec = slim_model_spec(*model, spec, removal);
  mask(*model, removal);
  std::vector<float> masked = logits(*model, x);
  auto slim = build(slim_spec);
  slim->load_state_dict(state, "slim_state_dict");
  REQUIRE_NOTHROW(check_channel_groups(*slim, channel_groups(*slim)));
  std::vector<float> got = logits(*slim, x);
  CHECK(slim->num_parameters() < model->num_parameters());

  REQUIRE(got.size() == masked.size());
  float scale = 0.0f, moved = 0.0f;
  for (size_t i = 0; i < masked.size(); ++i) {
    scale = std::max(scale, std::abs(masked[i]));
    moved = std::max(moved, std::abs(masked[i] - dense[i]));
  }
  CHECK(moved > 1e-3f * scale);  // the removed channels mattered
  for (size_t i = 0; i < masked.size(); ++i) {
    INFO("logit " << i);
    CHECK(got[i] == Approx(masked[i]).epsilon(1e-4).margin(1e-4 * double(scale)));
  }
}

const ChannelGroup& named_group(const std::vector<ChannelGroup>& groups, const std::string& name) {
  for (const ChannelGroup& g : groups)
    if (g.name == name) return g;
  FAIL("no group " << name);
  return groups.front();
}

}  // namespace

TEST_CASE("Slimming residual streams: CIFAR ResNet-20 and -56 with option-A shortcuts give the masked logits",
          "[slim][models]") {
  for (const char* name : {"resnet20", "resnet56"}) {
    SECTION(name) {
      for (bool prunable : {false, true}) {
        INFO("prunable groups too: " << prunable);
        check_slim_matches_masked({{"name", name}, {"num_classes", 7}}, Shape{2, 3, 16, 16}, prunable, 11);
      }
    }
  }
}

TEST_CASE("Slimming residual streams: ResNet-18 and -50 give the masked logits", "[slim][models]") {
  for (const char* name : {"resnet18", "resnet50"}) {
    SECTION(name) {
      check_slim_matches_masked({{"name", name}, {"num_classes", 5}}, Shape{2, 3, 32, 32}, true, 21);
    }
  }
  SECTION("resnet18, streams only") {
    check_slim_matches_masked({{"name", "resnet18"}, {"num_classes", 5}}, Shape{1, 3, 32, 32}, false, 22);
  }
  SECTION("resnet50 with a conv classifier") {
    check_slim_matches_masked({{"name", "resnet50"}, {"num_classes", 5}, {"classifier", "conv"}}, Shape{1, 3, 32, 32},
                              false, 23);
  }
}

TEST_CASE("Slimming residual streams: MobileNet-V2, pre-activation ResNet-18 and WRN-28-8 give the masked logits",
          "[slim][models]") {
  SECTION("mobilenet_v2") {
    check_slim_matches_masked({{"name", "mobilenet_v2"}, {"num_classes", 6}}, Shape{2, 3, 32, 32}, true, 31);
  }
  SECTION("preact_resnet18") {
    check_slim_matches_masked({{"name", "preact_resnet18"}, {"num_classes", 4}}, Shape{2, 3, 16, 16}, true, 41);
  }
  SECTION("wrn28_8") {
    check_slim_matches_masked({{"name", "wrn28_8"}, {"num_classes", 4}}, Shape{1, 3, 8, 8}, true, 51);
  }
}

TEST_CASE("Slimming residual streams: SEW ResNet-18 (ADD, AND, IAND connections) gives the masked logits",
          "[slim][models][spiking]") {
  // g(A, I) maps channel c of both inputs to channel c, and g(0, 0) = 0 for all three: a stream
  // channel that is zero in every producer stays zero.
  for (const char* connect : {"ADD", "AND", "IAND"}) {
    SECTION(connect) {
      check_slim_matches_masked({{"name", "sew_resnet18"}, {"T", 2}, {"num_classes", 5}, {"connect", connect}},
                                Shape{2, 3, 32, 32}, true, 71);
    }
  }
}

TEST_CASE("Stream sets: option-A shortcuts join the CIFAR ResNet's streams into one set of classes", "[slim]") {
  auto m = build({{"name", "resnet20"}});
  const std::vector<ChannelGroup>& groups = channel_groups(*m);
  std::vector<StreamSet> sets = stream_sets(groups);
  REQUIRE(sets.size() == 1);
  CHECK(stream_set_name(groups, sets[0]) == "conv1 + layer1 stream, layer2 stream, layer3 stream");
  // 16 channels of the first stream, 8 front/back pad pairs of the second, 16 of the third.
  REQUIRE(sets[0].classes.size() == 16 + 8 + 16);
  // Channel 0 of the first stream is channel 8 of the second and 24 of the third.
  REQUIRE(sets[0].classes[0].size() == 3);
  CHECK(sets[0].classes[0][1].channel == 8);
  CHECK(sets[0].classes[0][2].channel == 24);
  // Pad pair 0 of the second stream: channels 0 and 24 there, 16 and 40 in the third.
  std::vector<int64_t> pair;
  for (const GroupChannel& gc : sets[0].classes[16]) pair.push_back(gc.channel);
  CHECK(pair == std::vector<int64_t>{0, 24, 16, 40});

  // Removals an option-A shortcut cannot express are refused, naming both streams.
  CHECK_THROWS_WITH(slim_state_dict(*m, {{"conv1 + layer1 stream", {3}}}),
                    Catch::Contains("'conv1 + layer1 stream' to 'layer2 stream'") && Catch::Contains("must go together"));
  CHECK_THROWS_WITH(slim_state_dict(*m, {{"layer2 stream", {0, 1}}}),
                    Catch::Contains("front pad channels are kept"));
  // A front and a back pad channel of the last stream: fine, and the spec shrinks.
  nlohmann::json spec = slim_model_spec(*m, {{"name", "resnet20"}}, {{"layer3 stream", {2, 50}}});
  CHECK(spec["stage_widths"] == nlohmann::json({16, 32, 62}));
  // The layer feeding an add still cannot be slimmed on its own.
  CHECK_THROWS_WITH(slim_state_dict(*m, {{"layer1.0.conv2.weight", {0}}}), Catch::Contains("name its stream instead"));
  CHECK_THROWS_WITH(slim_state_dict(*m, {{"layer1.0.conv1.weight", {0}}, {"layer1.0.conv1", {1}}}),
                    Catch::Contains("given twice"));
}

TEST_CASE("Stream groups list every producer, norm and consumer of the stream", "[slim][models]") {
  auto r18 = build({{"name", "resnet18"}});
  const auto& g18 = channel_groups(*r18);
  // The stem feeds layer1's identity adds: its width follows the stream (stem_width too).
  const ChannelGroup& s1 = named_group(g18, "conv1 + layer1 stream");
  CHECK(s1.also_options == std::vector<std::pair<std::string, int64_t>>{{"stem_width", -1}});
  CHECK(is_stream(s1));
  nlohmann::json spec = slim_model_spec(*r18, {{"name", "resnet18"}}, {{"conv1 + layer1 stream", {0, 5}}});
  CHECK(spec["stem_width"] == 62);
  CHECK(spec["stage_widths"] == nlohmann::json({62, 128, 256, 512}));
  // layer2's stream: made by the downsample and both blocks' conv2, read by layer3.0's conv1 and downsample.
  std::vector<std::string> producers, consumers;
  for (const ChannelMember& m : named_group(g18, "layer2 stream").members) {
    if (m.role == ChannelRole::output) producers.push_back(m.layer);
    if (m.role == ChannelRole::input) consumers.push_back(m.layer);
  }
  CHECK(producers == std::vector<std::string>{"layer2.0.downsample.0", "layer2.0.conv2", "layer2.1.conv2"});
  CHECK(consumers == std::vector<std::string>{"layer2.1.conv1", "layer3.0.conv1", "layer3.0.downsample.0"});
  CHECK_FALSE(is_stream(named_group(g18, "layer1.0.conv1")));
}

// test/scripts/slim_torch_resnet50.py runs this case with TRIM_SLIM_EXPORT_DIR set and loads the
// files into torchvision's ResNet-50; without it the files go to a temporary folder. Either way the
// case reads them back and checks the slimmed model's logits against the masked model's.
TEST_CASE("Slimmed ResNet-50 export: model_slim files and the masked logits for PyTorch", "[slim][models]") {
  test::TempDir tmp("slim_export");
  const char* env = std::getenv("TRIM_SLIM_EXPORT_DIR");
  std::string dir = env && *env ? std::string(env) : tmp.file("resnet50");
  std::filesystem::create_directories(dir);
  nlohmann::json spec{{"name", "resnet50"}, {"num_classes", 10}};
  auto model = build(spec);
  randomize_vectors(*model);
  auto removal = draw_removal(channel_groups(*model), 61, true);
  Tensor x = normal_tensor(Shape{2, 3, 64, 64}, 62);
  auto state = slim_state_dict(*model, removal);
  nlohmann::json slim_spec = slim_model_spec(*model, spec, removal);
  mask(*model, removal);
  std::vector<float> masked = logits(*model, x);
  std::vector<NamedTensor> tensors;
  for (auto& [n, t] : state) tensors.push_back({n, t});
  save_safetensors(dir + "/model_slim.safetensors", tensors, {{"trim.model", slim_spec.dump()}});
  write_file_atomic(dir + "/model_slim.json", slim_spec.dump(2) + "\n");
  save_safetensors(dir + "/check.safetensors",
                   {{"input", x}, {"logits", Tensor::from_vector(Shape{2, 10}, masked)}});

  nlohmann::json read_spec = nlohmann::json::parse(std::ifstream(dir + "/model_slim.json"));
  CHECK(read_spec["stage_widths"] != nlohmann::json({256, 512, 1024, 2048}));
  auto slim = build(read_spec);
  SafetensorsFile f = load_safetensors(dir + "/model_slim.safetensors");
  std::vector<std::pair<std::string, Tensor>> st;
  for (auto& t : f.tensors) st.emplace_back(t.name, t.tensor);
  slim->load_state_dict(st, dir + "/model_slim.safetensors");
  std::vector<float> got = logits(*slim, x);
  REQUIRE(got.size() == masked.size());
  float scale = 0.0f;
  for (float v : masked) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(masked[i]).epsilon(1e-4).margin(1e-4 * double(scale)));
}
