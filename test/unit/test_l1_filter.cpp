// L1-norm filter pruning (pruning/l1_filter.h, pruning/README.md#l1-filter): the filters with the
// smallest sum |W_j| go (closed form on a tiny layer), with their BN channels; the masks hold
// through fine-tuning; the slimmed export has the expected widths and computes what the masked
// model computes; resume is exact; bad settings give one clear error.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "apps/runner/init_weights.h"
#include "apps/runner/loop.h"
#include "apps/runner/trainer.h"
#include "core/autograd/grad_mode.h"
#include "core/io/safetensors.h"
#include "core/random/generator.h"
#include "models/models.h"
#include "pruning/l1_filter.h"
#include "pruning/registry.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;

namespace {

std::unique_ptr<L1FilterPruning> make_l1(const nlohmann::json& pruning) {
  Config pc(pruning, "test.json", "/pruning");
  auto m = make_pruning_method(pc, method_family("trim-magnitude"));
  pc.finish();
  return std::unique_ptr<L1FilterPruning>(dynamic_cast<L1FilterPruning*>(m.release()));
}

// A cnn_small without dropout: 0 conv, 1 BN, 4 conv, 5 BN, 9 linear (hidden), 11 the classifier.
nlohmann::json cnn_run(const std::string& out) {
  nlohmann::json j = test::small_run(out);
  j["model"] = {{"name", "cnn_small"}, {"widths", {8, 16}}, {"hidden", 32}};
  j["data"]["train_limit"] = 600;
  j["data"]["test_limit"] = 300;
  j["train"]["epochs"] = 1;
  j["pruning"] = {{"method", "l1_filter"},
                  {"ratio", 0.5},
                  {"layer_ratios", {{{"pattern", "11.weight"}, {"ratio", 0.0}}}},
                  {"pretrain_epochs", 1},
                  {"finetune_epochs", 2},
                  {"finetune_lr", 0.01}};
  return j;
}

std::vector<float> tensor_of(const std::string& file, const std::string& name) {
  SafetensorsFile f = load_safetensors(file);
  const Tensor* t = f.find(name);
  REQUIRE(t);
  return t->to_vector<float>();
}

// The rows (of `rows` rows) that hold only zeros.
std::vector<int64_t> zero_rows(const std::vector<float>& v, int64_t rows) {
  std::vector<int64_t> out;
  size_t n = v.size() / size_t(rows);
  for (int64_t r = 0; r < rows; ++r)
    if (std::all_of(v.begin() + r * n, v.begin() + (r + 1) * n, [](float x) { return x == 0.0f; })) out.push_back(r);
  return out;
}

}  // namespace

TEST_CASE("l1_filter prunes the filters of smallest L1 norm, with their BN channels (closed form)", "[l1_filter]") {
  auto l1 = make_l1({{"method", "l1_filter"}, {"ratio", 0.0}, {"pretrain_epochs", 1},
                     {"layer_ratios", {{{"pattern", "0.weight"}, {"ratio", 0.5}}, {{"pattern", "4.weight"}, {"ratio", 0.3}}}}});
  default_generator().set_state(11, 0);
  nlohmann::json spec = {{"name", "cnn_small"}, {"widths", {4, 8}}, {"hidden", 16}};
  Config sc(spec, "test", "/model");
  auto model = build_model(sc);
  // Filter j of the first conv (1 x 3 x 3) holds one value c_j: L1 = 9 |c_j|. Ratio 0.5 of 4
  // filters prunes ceil(2) = 2: those with |c| = 0.05 and 0.1, rows 3 and 1 (the sign does not count).
  const std::vector<float> c{0.3f, -0.1f, -0.2f, 0.05f};
  std::vector<float> w0;
  for (float x : c) w0.insert(w0.end(), 9, x);
  for (const NamedParameter& p : model->named_parameters())
    if (p.name == "0.weight") Tensor(p.tensor).copy_(Tensor::from_vector(p.tensor.shape(), w0));
  std::vector<OptimParam> ps;
  for (const NamedParameter& p : model->named_parameters()) ps.push_back({p.name, p.tensor});
  l1->add_parameters(*model, ps);
  auto store = std::make_shared<ParamStore>(ps);
  l1->attach(*model, *store);
  // The second conv (8 filters of 4 x 3 x 3, random): the ceil(0.3 * 8) = 3 smallest sums of |w|.
  std::vector<float> w4;
  for (const NamedParameter& p : model->named_parameters())
    if (p.name == "4.weight") w4 = p.tensor.to_vector<float>();
  std::vector<std::pair<double, int64_t>> l1norm;
  for (int64_t r = 0; r < 8; ++r) {
    double s = 0.0;
    for (int64_t i = 0; i < 36; ++i) s += std::abs(double(w4[size_t(r * 36 + i)]));
    l1norm.push_back({s, r});
  }
  std::sort(l1norm.begin(), l1norm.end());
  std::vector<int64_t> want4{l1norm[0].second, l1norm[1].second, l1norm[2].second};
  std::sort(want4.begin(), want4.end());

  StepInfo r1;
  r1.round = 1;  // the round after pretraining
  l1->begin_round(r1, *model, *store);
  CHECK(l1->pruned_rows()[0] == std::vector<int64_t>{1, 3});
  CHECK(l1->pruned_rows()[1] == want4);
  std::map<std::string, std::vector<float>> now;
  for (const auto& [n, t] : model->state_dict()) now[n] = t.to_vector<float>();
  CHECK(zero_rows(now["0.weight"], 4) == std::vector<int64_t>{1, 3});
  CHECK(zero_rows(now["4.weight"], 8) == want4);
  CHECK(now["1.weight"] == std::vector<float>{1.0f, 0.0f, 1.0f, 0.0f});  // BN gamma: the channels go with the filters
  for (const char* coupled : {"1.weight", "1.bias"}) {  // masked with the filters, so fine-tuning keeps them at 0
    int slot = store->find(coupled);
    REQUIRE(slot >= 0);
    CHECK(store->view(store->state("mask"), size_t(slot)).to_vector<float>() == std::vector<float>{1, 0, 1, 0});
  }
  CHECK(zero_rows(now["9.weight"], 16).empty());  // ratio 0
}

TEST_CASE("l1_filter: masks hold through fine-tuning, and the slimmed export has the pruned widths", "[l1_filter][train]") {
  test::TempDir tmp("l1_filter_run");
  nlohmann::json j = cnn_run(tmp.file("run"));
  auto l1 = make_l1(j["pruning"]);
  std::vector<float> end_of_pretraining;  // conv 0's weights after the last step of round 0
  TrainOptions o;
  o.step_callbacks.push_back([&](Loop& l, const StepEvent&) {
    if (l.at().round == 0)
      for (const auto& [n, t] : l.run().model->state_dict())
        if (n == "0.weight") end_of_pretraining = t.to_vector<float>();
    return StepAction::go_on;
  });
  nlohmann::json s = train(test::as_manifest(j), *l1, o);
  REQUIRE(!end_of_pretraining.empty());
  // The right filters: the 4 of 8 with the smallest L1 norm of the pretrained weights.
  std::vector<std::pair<double, int64_t>> norms;
  for (int64_t r = 0; r < 8; ++r) {
    double sum = 0.0;
    for (int64_t i = 0; i < 9; ++i) sum += std::abs(double(end_of_pretraining[size_t(r * 9 + i)]));
    norms.push_back({sum, r});
  }
  std::sort(norms.begin(), norms.end());
  std::vector<int64_t> want;
  for (int i = 0; i < 4; ++i) want.push_back(norms[size_t(i)].second);
  std::sort(want.begin(), want.end());
  CHECK(l1->pruned_rows()[0] == want);
  // Held through 2 epochs of fine-tuning: the pruned rows (and their BN channels) are still exactly 0.
  const std::string model = tmp.file("run") + "/model.safetensors";
  CHECK(zero_rows(tensor_of(model, "0.weight"), 8) == want);
  std::vector<float> gamma = tensor_of(model, "1.weight");
  for (int64_t r : want) CHECK(gamma[size_t(r)] == 0.0f);
  CHECK(zero_rows(tensor_of(model, "4.weight"), 16).size() == 8);
  CHECK(zero_rows(tensor_of(model, "9.weight"), 32).size() == 16);
  CHECK(zero_rows(tensor_of(model, "11.weight"), 10).empty());
  CHECK(test::metrics_without_timing(tmp.file("run")).size() == 3);  // pretrain 1 + fine-tune 2
  CHECK(s["removed_filters"] == nlohmann::json{{"0.weight", 4}, {"4.weight", 8}, {"9.weight", 16}, {"11.weight", 0}});
  // The slimmed model: half the widths, and the masked model's logits.
  nlohmann::json slim = s["slim_model"];
  CHECK(slim["widths"] == nlohmann::json{4, 8});
  CHECK(slim["hidden"] == 16);
  const std::string slim_file = tmp.file("run") + "/model_slim.safetensors";
  SafetensorsFile f = load_safetensors(slim_file);
  CHECK(f.find("0.weight")->shape() == Shape{4, 1, 3, 3});
  CHECK(f.find("4.weight")->shape() == Shape{8, 4, 3, 3});
  CHECK(f.find("9.weight")->shape() == Shape{16, 8 * 7 * 7});
  CHECK(f.find("11.weight")->shape() == Shape{10, 16});
  Config full_spec(j["model"], "test", "/model"), slim_spec(slim, "test", "/model");
  auto masked = build_model(full_spec), slimmed = build_model(slim_spec);
  load_init_weights(*masked, model, true, "masked");
  load_init_weights(*slimmed, slim_file, true, "slim");
  masked->eval();
  slimmed->eval();
  Generator g(5);
  Tensor x = test::randn(Shape{4, 1, 28, 28}, g);
  NoGradGuard no_grad;
  std::vector<float> a = (*masked)(x).to_vector<float>(), b = (*slimmed)(x).to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).margin(1e-4));
}

TEST_CASE("l1_filter: a run interrupted while fine-tuning resumes exactly", "[l1_filter][resume]") {
  test::TempDir tmp("l1_filter_resume");
  nlohmann::json ja = cnn_run(tmp.file("a")), jb = cnn_run(tmp.file("b"));
  ja["train"]["checkpoint_every_steps"] = 4;
  jb["train"]["checkpoint_every_steps"] = 4;
  nlohmann::json full = train(test::as_manifest(ja), *make_l1(ja["pruning"]));
  TrainOptions kill;
  kill.interrupt = [](int64_t step) { return step == 10; };  // round 1, epoch 1 (6 steps per epoch)
  CHECK(train(test::as_manifest(jb), *make_l1(jb["pruning"]), kill).empty());
  TrainOptions resume;
  resume.resume = true;
  nlohmann::json resumed = train(test::as_manifest(jb), *make_l1(jb["pruning"]), resume);
  CHECK(test::metrics_without_timing(tmp.file("a")) == test::metrics_without_timing(tmp.file("b")));
  CHECK(resumed["removed_filters"] == full["removed_filters"]);
  CHECK(resumed["slim_model"] == full["slim_model"]);
  CHECK(test::same_checkpoint_weights(tmp.file("a"), tmp.file("b")));
  CHECK(test::same_tensors(tmp.file("a") + "/model_slim.safetensors", tmp.file("b") + "/model_slim.safetensors"));
}

TEST_CASE("l1_filter: bad settings give one clear error", "[l1_filter][errors]") {
  nlohmann::json ok = {{"method", "l1_filter"}, {"ratio", 0.5}, {"pretrain_epochs", 1}};
  auto with = [&](const char* k, nlohmann::json v) {
    nlohmann::json p = ok;
    p[k] = v;
    return p;
  };
  CHECK_THROWS_WITH(make_l1(with("ratio", 1.5)), Catch::Contains("test.json: /pruning/ratio"));
  CHECK_THROWS_WITH(make_l1(with("init_from", "m.safetensors")), Catch::Contains("/pruning/init_from: has moved to the manifest's top level"));
  CHECK_THROWS_WITH(make_l1(with("mode", "filter")), Catch::Contains("/pruning") && Catch::Contains("mode"));
  CHECK_THROWS_WITH(make_l1(with("layer_ratios", {{{"pattern", "x"}, {"ratio", 2}}})),
                    Catch::Contains("/pruning/layer_ratios/0/ratio"));
  test::TempDir tmp("l1_filter_bad");
  nlohmann::json untrained = cnn_run(tmp.file("untrained"));
  untrained["pruning"].erase("pretrain_epochs");
  CHECK_THROWS_WITH(train(test::as_manifest(untrained), *make_l1(untrained["pruning"])),
                    Catch::Contains("/pruning/pretrain_epochs: l1_filter prunes a trained network"));
  nlohmann::json classifier = cnn_run(tmp.file("classifier"));
  classifier["pruning"].erase("layer_ratios");
  CHECK_THROWS_WITH(train(test::as_manifest(classifier), *make_l1(classifier["pruning"])),
                    Catch::Contains("output channels of 11.weight"));
}
