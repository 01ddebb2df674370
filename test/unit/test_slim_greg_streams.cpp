// GReg's filter mode through residual streams (pruning/greg.h): a stream named in layer_ratios is
// regularised and pruned as a whole, and the slimmed export (model_slim.*) rebuilds a network that
// gives the masked network's logits.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "apps/runner/trainer.h"
#include "core/config.h"
#include "core/io/safetensors.h"
#include "core/optim/param_store.h"
#include "core/random/philox.h"
#include "layers/layers.h"
#include "models/models.h"
#include "pruning/greg.h"
#include "pruning/registry.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;
using test::as_manifest;

namespace {

// ResNet-20 on a small synthetic CIFAR-shaped set: 6 batches per epoch.
nlohmann::json stream_run(const std::string& out, const std::string& method) {
  nlohmann::json j = test::small_run(out);
  j["data"] = {{"dataset", "synthetic"}, {"shape", {3, 16, 16}}, {"classes", 10}, {"size", 120}, {"test_size", 40},
               {"batch_size", 20}, {"eval_batch_size", 40}};
  j["model"] = {{"name", "resnet20"}};
  j["pruning"] = {{"method", method}, {"mode", "filter"}, {"ratio", 0.0}, {"update_interval", 2},
                  {"reg_granularity_prune", 0.2}, {"reg_upper_limit", 1.0}, {"stabilize_iterations", 3},
                  {"lr_prune", 0.01}, {"pretrain_epochs", 1}, {"reg_epochs", 3}, {"finetune_epochs", 1},
                  {"layer_ratios", {{{"pattern", "layer3 stream"}, {"ratio", 0.25}},
                                    {{"pattern", "layer*.*.conv1.weight"}, {"ratio", 0.5}}}}};
  if (method == "greg2") {
    j["pruning"]["reg_granularity_pick"] = 0.01;
    j["pruning"]["reg_upper_limit_pick"] = 0.02;
    j["pruning"]["reg_granularity_recover"] = -1e-3;
  }
  return j;
}

std::unique_ptr<Greg> make_greg(const nlohmann::json& run) {
  Config pc(run["pruning"], "test.json", "/pruning");
  auto m = make_pruning_method(pc, {"greg1", "greg2"});
  pc.finish();
  return std::unique_ptr<Greg>(dynamic_cast<Greg*>(m.release()));
}

std::shared_ptr<Module> load_model(const nlohmann::json& spec, const std::string& path) {
  Config c(spec, path, "");
  auto m = build_model(c);
  SafetensorsFile f = load_safetensors(path);
  std::vector<std::pair<std::string, Tensor>> st;
  for (auto& t : f.tensors) st.emplace_back(t.name, t.tensor);
  m->load_state_dict(st, path);
  m->eval();
  return m;
}

const char* kSet = "conv1 + layer1 stream, layer2 stream, layer3 stream";

// The method attached to a fresh model of `run`, as the trainer does it.
void attach(Greg& g, const nlohmann::json& run) {
  Config mc(run["model"], "test.json", "/model");
  auto model = build_model(mc);
  std::vector<OptimParam> params;
  for (const NamedParameter& p : model->named_parameters()) params.push_back({p.name, p.tensor});
  g.add_parameters(*model, params);
  ParamStore store(std::move(params));
  g.attach(*model, store);
}

}  // namespace

TEST_CASE("GReg filter mode prunes a CIFAR ResNet's streams named in layer_ratios and exports the slimmed net",
          "[greg][train][slim]") {
  test::TempDir tmp("greg_streams");
  for (std::string method : {"greg1", "greg2"}) {
    INFO(method);
    std::string out = tmp.file(method);
    nlohmann::json j = stream_run(out, method);
    auto g = make_greg(j);
    std::filesystem::create_directories(out);
    g->set_slim_export(out, j["model"]);
    nlohmann::json s = train(as_manifest(j), *g);
    // The three option-A-joined streams are one GReg layer of 40 classes; 10 of them go.
    std::vector<std::string> units = g->unit_names();
    REQUIRE(units.back() == kSet);
    auto metrics = test::metrics_without_timing(out);
    // Pretrain 1, the regularization until the hard prune (at most reg_epochs 3), fine-tune 1.
    REQUIRE(metrics.size() >= 3);
    REQUIRE(metrics.size() <= 5);
    CHECK(metrics[metrics.size() - 2]["greg_phase"] == "pruned");
    CHECK(metrics.back()["greg_phase"] == "finetune");
    CHECK(metrics[1]["lambda"].contains(kSet));
    CHECK(metrics[1]["lambda"][kSet].get<double>() != 0.0);
    REQUIRE(s.contains("removed_stream_channels"));
    int64_t gone = 0;
    for (auto& [name, n] : s["removed_stream_channels"].items()) gone += n.get<int64_t>();
    CHECK(gone >= 10);  // a first-stream class takes one channel from each of the three streams

    REQUIRE(std::filesystem::exists(out + "/model_slim.json"));
    REQUIRE(std::filesystem::exists(out + "/model_slim.safetensors"));
    nlohmann::json spec = nlohmann::json::parse(std::ifstream(out + "/model_slim.json"));
    std::vector<int64_t> stages = spec["stage_widths"].get<std::vector<int64_t>>();
    REQUIRE(stages.size() == 3);
    CHECK(stages[0] + stages[1] + stages[2] == 16 + 32 + 64 - gone);
    CHECK(stages[2] < 64);
    // Every stream producer lost the same rows, and its BN is zeroed there in the masked model.
    const std::vector<std::vector<int64_t>>& rows = g->pruned_rows();
    SafetensorsFile f = load_safetensors(out + "/model.safetensors");
    auto gamma = f.find("layer3.2.bn2.weight")->to_vector<float>();
    int64_t zero = 0;
    for (float x : gamma) zero += x == 0.0f;
    CHECK(zero == 64 - stages[2]);
    CHECK(!rows.empty());

    // The masked network and the slimmed one give the same logits.
    auto full = load_model(j["model"], out + "/model.safetensors");
    auto slim = load_model(spec, out + "/model_slim.safetensors");
    CHECK(s["slim_parameters"].get<int64_t>() == slim->num_parameters());
    std::vector<float> xv(6 * 3 * 16 * 16);
    for (size_t i = 0; i < xv.size(); ++i) xv[i] = philox::normal(31, 0, int64_t(i));
    Tensor x = Tensor::from_vector(Shape{6, 3, 16, 16}, xv);
    auto a = (*full)(x).to_vector<float>(), b = (*slim)(x).to_vector<float>();
    REQUIRE(a.size() == b.size());
    float scale = 0.0f;
    for (float v : a) scale = std::max(scale, std::abs(v));
    for (size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).epsilon(1e-4).margin(1e-4 * double(scale)));
  }
}

TEST_CASE("GReg leaves streams alone unless they are named or prune_streams is set", "[greg][slim]") {
  test::TempDir tmp("greg_streams_opt");
  auto units = [&](nlohmann::json pruning) {
    nlohmann::json j = stream_run(tmp.file("u"), "greg1");
    for (auto& [k, v] : pruning.items()) j["pruning"][k] = v;
    if (j["pruning"]["layer_ratios"].is_null()) j["pruning"].erase("layer_ratios");
    auto g = make_greg(j);
    attach(*g, j);
    return g->unit_names();
  };
  // Default: one layer per prunable weight, as before; a global ratio does not reach streams.
  auto plain = units({{"ratio", 0.0}, {"layer_ratios", {{{"pattern", "layer*.*.conv1.weight"}, {"ratio", 0.5}}}}});
  CHECK(plain.size() == 20);  // 19 convs + the linear
  CHECK(std::find(plain.begin(), plain.end(), kSet) == plain.end());
  // prune_streams: the ratio applies to the streams (their producers join the stream's layer).
  auto all = units({{"ratio", 0.3}, {"prune_streams", true}, {"include", {"layer*.*.conv?.weight", "conv1.weight"}},
                    {"layer_ratios", nullptr}});
  CHECK(all.back() == kSet);
  CHECK(all.size() == 9 + 1);  // 9 blocks' conv1 + the stream set (the 9 conv2 and the stem are its producers)

  // A stream whose producers are not prunable in this run, a stream setting in unstructured mode.
  nlohmann::json j = stream_run(tmp.file("bad"), "greg1");
  j["pruning"]["include"] = {"layer*.*.conv1.weight"};
  auto g = make_greg(j);
  CHECK_THROWS_WITH(attach(*g, j), Catch::Contains("/pruning/include") && Catch::Contains("conv1.weight"));
  nlohmann::json p = {{"method", "greg1"}, {"mode", "unstructured"}, {"ratio", 0.5}, {"prune_streams", true},
                      {"reg_epochs", 2}, {"pretrain_epochs", 1}};
  Config pc(p, "test.json", "/pruning");
  CHECK_THROWS_WITH(make_pruning_method(pc, {"greg1"}), Catch::Contains("/pruning/prune_streams"));
}
