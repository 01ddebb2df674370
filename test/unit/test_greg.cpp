// GReg-1 / GReg-2 (pruning/README.md#greg): the spec's test oracles, the penalty rule of the step, physical
// filter removal, and the methods end to end (sparsity, lambda metrics, resume mid-growth, the
// slimmed export, bad settings).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "apps/runner/trainer.h"
#include "core/config.h"
#include "core/io/safetensors.h"
#include "core/ops/ops.h"
#include "core/optim/sgd.h"
#include "core/random/philox.h"
#include "layers/layers.h"
#include "models/models.h"
#include "pruning/greg.h"
#include "pruning/greg_rule.h"
#include "pruning/registry.h"
#include "pruning/select.h"
#include "models/zoo.h"
#include "pruning/slim.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;
using test::as_manifest;

TEST_CASE("GReg oracle 1: lambda grows by delta every K_u iterations from iteration 0", "[greg]") {
  CHECK(greg_updates_by(25, 10) == 3);  // updates at 0, 10, 20
  CHECK(greg1_lambda_at(25, 10, 1e-4) == Approx(3e-4).epsilon(1e-12));
  for (int64_t i : {0, 9, 10, 99, 12345}) CHECK(greg1_lambda_at(i, 10, 1e-4) == Approx((i / 10 + 1) * 1e-4));
  // The framework's integer count: 10,000 updates of 1e-4 reach the ceiling 1, 9,999 do not.
  CHECK(greg_updates_to_reach(0.0, 1e-4, 1.0) == 10000);
  CHECK(greg_updates_to_reach(0.0, 1e-5, 1e-2) == 1000);
  CHECK_FALSE(greg_reached(greg_lambda(9999, 1e-4), 1.0));
}

TEST_CASE("GReg oracle 2: the penalty enters the gradient before weight decay and momentum", "[greg][optim]") {
  Tensor w = Tensor::from_vector(Shape{1, 1}, std::vector<float>{0.5f});
  w.set_requires_grad(true);
  Tensor lam = Tensor::from_vector(Shape{1}, std::vector<float>{0.1f});
  Sgd<GregRule> opt({{"w", w, true}}, {1e-3f, 0.9f, false, 5e-4f});
  opt.set_rule_params(0, {{lam.data<float>(), 1}, {nullptr}});
  opt.zero_grad();
  w.grad().zero_();
  opt.step();
  CHECK(opt.state()[0].second.to_vector<float>()[0] == Approx(0.05025f).epsilon(1e-6));
  CHECK(w.to_vector<float>()[0] == Approx(0.49994975f).epsilon(1e-7));
}

TEST_CASE("GReg rule: per-filter lambda by row, and the mask on gradient, weight and momentum", "[greg][optim]") {
  const int64_t rows = 3, row = 4, n = rows * row;
  std::vector<float> w0(n), g0(n), m(n, 1.0f), lam{0.0f, 0.5f, 2.0f};
  for (int64_t i = 0; i < n; ++i) w0[size_t(i)] = philox::normal(5, 0, i), g0[size_t(i)] = philox::normal(6, 0, i);
  m[5] = 0.0f;
  Tensor w = Tensor::from_vector(Shape{rows, row}, w0);
  w.set_requires_grad(true);
  Tensor lt = Tensor::from_vector(Shape{rows}, lam), mt = Tensor::from_vector(Shape{rows, row}, m);
  const float lr = 0.1f, mom = 0.9f, wd = 1e-3f;
  Sgd<GregRule> opt({{"w", w, true}}, {lr, mom, false, wd});
  opt.set_rule_params(0, {{lt.data<float>(), row}, {mt.data<float>()}});
  std::vector<float> v(n, 0.0f), ref = w0;
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    w.grad().copy_(Tensor::from_vector(Shape{rows, row}, g0));
    opt.step();
    for (int64_t i = 0; i < n; ++i) {
      float g = (g0[size_t(i)] + lam[size_t(i / row)] * ref[size_t(i)]) * m[size_t(i)] + wd * ref[size_t(i)];
      v[size_t(i)] = mom * v[size_t(i)] + g;
      ref[size_t(i)] = (ref[size_t(i)] - lr * v[size_t(i)]) * m[size_t(i)];
      v[size_t(i)] *= m[size_t(i)];
    }
  }
  auto wv = w.to_vector<float>(), vv = opt.state()[0].second.to_vector<float>();
  for (int64_t i = 0; i < n; ++i) {
    CHECK(wv[size_t(i)] == Approx(ref[size_t(i)]).epsilon(1e-6).margin(1e-7));
    CHECK(vv[size_t(i)] == Approx(v[size_t(i)]).epsilon(1e-6).margin(1e-7));
  }
  CHECK(wv[5] == 0.0f);
  CHECK(vv[5] == 0.0f);
}

TEST_CASE("GReg oracles 3-6: group counts, scores, ratio history, Eq. 6, GReg-2's ImageNet lambda", "[greg]") {
  CHECK(filter_prune_count(0.7, 64) == 45);
  CHECK(filter_prune_count(0.95, 16) == 15);
  std::vector<double> s = greg_filter_scores(Tensor::from_vector(Shape{1, 2}, std::vector<float>{0.3f, -0.1f}));
  CHECK(s[0] == Approx(0.2).epsilon(1e-7));
  double h = greg_hist(0.0, 2.0, true);
  CHECK(h == 2.0);
  CHECK(greg_hist(h, 4.0, false) == Approx(2.2).epsilon(1e-12));
  CHECK(greg_ratio({1.0, 4.0, 2.0, 6.0}, {0, 2}) == Approx(5.0 / 1.5));
  auto shrink = greg_shrink({1.0, 0.01}, 0.01);
  CHECK(shrink[0] == Approx(0.990099).epsilon(1e-6));
  CHECK(shrink[1] == Approx(0.5).epsilon(1e-12));
  CHECK(greg2_lambda_at(48200, 5, 1e-5, 1e-2, 1e-4) == Approx(0.874).margin(1e-3));
  CHECK(greg2_lambda_at(4995, 5, 1e-5, 1e-2, 1e-4) == Approx(1e-2).epsilon(1e-9));  // the last pick update
}

TEST_CASE("GReg oracle 7: removing filters {1, 3} equals zeroing them and their BN weight and bias", "[greg][slim]") {
  auto build = [](int64_t width) {
    auto net = std::make_shared<ChainModel>();
    net->push_back(std::make_shared<Conv2d>(Conv2dOptions{.in = 2, .out = width, .kernel = 3, .padding = 1, .bias = true}));
    net->push_back(std::make_shared<BatchNorm2d>(width));
    net->push_back(std::make_shared<ReLU>());
    net->push_back(std::make_shared<Conv2d>(Conv2dOptions{.in = width, .out = 3, .kernel = 3, .padding = 1, .bias = true}));
    net->push_back(std::make_shared<BatchNorm2d>(3));
    net->push_back(std::make_shared<Flatten>());
    net->push_back(std::make_shared<Linear>(3 * 5 * 5, 4));
    net->describe_channels({{"widths", 0}, {"widths", 1}});
    return net;
  };
  auto full = build(4);
  // Non-trivial BN statistics and affine parameters.
  int k = 0;
  for (auto& [name, t] : full->state_dict()) {
    std::vector<float> v(size_t(t.numel()));
    for (size_t i = 0; i < v.size(); ++i) v[i] = 0.5f + 0.4f * philox::uniform(11, uint64_t(k), int64_t(i));
    if (name.find("running_mean") != std::string::npos || name.find(".bias") != std::string::npos)
      for (auto& x : v) x -= 0.7f;
    if (name.find("weight") != std::string::npos && t.ndim() > 1)
      for (size_t i = 0; i < v.size(); ++i) v[i] = philox::normal(12, uint64_t(k), int64_t(i)) * 0.3f;
    Tensor(t).copy_(Tensor::from_vector(t.shape(), v));
    ++k;
  }
  full->eval();
  auto slim_state = slim_state_dict(*full, {{"0.weight", {1, 3}}});
  // The masked model: filters 1, 3 zero, with their bias and BN weight and bias.
  for (auto& [name, t] : full->state_dict()) {
    if (name != "0.weight" && name != "0.bias" && name != "1.weight" && name != "1.bias") continue;
    std::vector<float> v = t.to_vector<float>();
    int64_t row = t.numel() / 4;
    for (int64_t r : {1, 3}) std::fill(v.begin() + r * row, v.begin() + (r + 1) * row, 0.0f);
    Tensor(t).copy_(Tensor::from_vector(t.shape(), v));
  }
  auto slim = build(2);
  slim->load_state_dict(slim_state, "slim");
  slim->eval();
  CHECK(dynamic_cast<Conv2d&>((*slim)[3]).weight.shape()[1] == 2);
  Tensor x = Tensor::from_vector(Shape{2, 2, 5, 5}, [] {
    std::vector<float> v(100);
    for (size_t i = 0; i < v.size(); ++i) v[i] = philox::normal(13, 0, int64_t(i));
    return v;
  }());
  auto a = (*full)(x).to_vector<float>(), b = (*slim)(x).to_vector<float>();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).epsilon(1e-5).margin(1e-6));
  // The output layer's rows cannot be removed; a Flatten'ed consumer keeps whole channels.
  CHECK_THROWS_WITH(slim_state_dict(*full, {{"6.weight", {0}}}), Catch::Contains("does not make a prunable channel group"));
  const auto& groups = channel_groups(*full);
  REQUIRE(groups.size() == 2);
  CHECK(groups[1].members.back().layer == "6");
  CHECK(groups[1].members.back().role == ChannelRole::input);
  CHECK(groups[1].members.back().spatial == 25);
  CHECK(channel_rows(*full, groups[0]) ==
        std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"});
  nlohmann::json spec = slim_model_spec(*full, {{"name", "x"}}, {{"3.weight", {0}}});
  CHECK(spec["widths"] == nlohmann::json({4, 2}));
}

namespace {

nlohmann::json greg_run(const std::string& out, const std::string& method, const std::string& mode) {
  nlohmann::json j = test::small_run(out);
  j["data"]["train_limit"] = 600;  // 6 batches per epoch
  j["data"]["test_limit"] = 200;
  j["optimizer"]["lr"] = 0.05;
  if (mode == "unstructured") j["model"] = {{"name", "mlp"}, {"hidden", {32, 16}}};
  j["pruning"] = {{"method", method}, {"mode", mode}, {"ratio", 0.8}, {"update_interval", 2},
                  {"reg_granularity_prune", 0.2}, {"reg_upper_limit", 1.0}, {"stabilize_iterations", 3},
                  {"lr_prune", 0.01}, {"pretrain_epochs", 1}, {"reg_epochs", 3}, {"finetune_epochs", 1}};
  if (method == "greg2") {
    j["pruning"]["reg_granularity_pick"] = 0.01;
    j["pruning"]["reg_upper_limit_pick"] = 0.02;
    j["pruning"]["reg_granularity_recover"] = -1e-3;
  }
  if (mode == "filter") j["pruning"]["layer_ratios"] = {{{"pattern", "12.weight"}, {"ratio", 0.0}}};  // the classifier
  return j;
}

void load(Module& m, const std::string& path) {
  SafetensorsFile f = load_safetensors(path);
  std::vector<std::pair<std::string, Tensor>> st;
  for (auto& t : f.tensors) st.emplace_back(t.name, t.tensor);
  m.load_state_dict(st, path);
  m.eval();
}

std::unique_ptr<Greg> make_greg(const nlohmann::json& run) {
  Config pc(run["pruning"], "test.json", "/pruning");
  auto m = make_pruning_method(pc, {"greg1", "greg2"});
  pc.finish();
  return std::unique_ptr<Greg>(dynamic_cast<Greg*>(m.release()));
}

}  // namespace

TEST_CASE("GReg-1 and GReg-2 unstructured: lambda schedule, hard prune to the ratio, fine-tune", "[greg][train]") {
  test::TempDir tmp("greg_u");
  for (std::string method : {"greg1", "greg2"}) {
    INFO(method);
    nlohmann::json j = greg_run(tmp.file(method), method, "unstructured");
    auto g = make_greg(j);
    nlohmann::json s = train(as_manifest(j), *g);
    auto metrics = test::metrics_without_timing(tmp.file(method));
    // The regularization round ends at the hard prune: GReg-1 after 12 iterations (5 updates reach
    // 1 at iteration 8, + 3), 2 epochs of 6; GReg-2 after 16 (2 pick updates, then 5 more: the
    // last at 12, + 3), epochs of 6, 6 and 4. Then fine-tuning's 1 epoch.
    const size_t reg_epochs = method == "greg1" ? 2 : 3;
    REQUIRE(metrics.size() == 1 + reg_epochs + 1);
    CHECK(metrics[0]["greg_phase"] == "pretrain");
    // Epoch 1 of the regularization ends after iteration 5: updates at 0, 2, 4.
    double lam = metrics[1]["lambda"]["1.weight"].get<double>();
    if (method == "greg1") {
      CHECK(lam == Approx(greg1_lambda_at(5, 2, 0.2) * double(filter_prune_count(0.8, 784 * 32)) / (784 * 32)));
    } else {
      // Picked after the updates at 0 and 2 (lambda 0.02); pruned groups 0.22 after iteration 4, kept -1e-3.
      double n = 784 * 32, np = double(filter_prune_count(0.8, 784 * 32));
      CHECK(lam == Approx((0.22 * np - 1e-3 * (n - np)) / n));
    }
    CHECK(metrics[reg_epochs]["greg_phase"] == "pruned");
    CHECK(metrics[reg_epochs]["greg_iteration"] == (method == "greg1" ? 12 : 16));
    CHECK(metrics.back()["greg_phase"] == "finetune");
    CHECK(metrics.back()["lambda"]["1.weight"] == 0.0);
    // Every layer at n_p = ceil(0.8 n) exactly, in the deployed model.
    SafetensorsFile f = load_safetensors(tmp.file(method) + "/model.safetensors");
    for (const char* name : {"1.weight", "3.weight", "5.weight"}) {
      const Tensor* t = f.find(name);
      REQUIRE(t);
      CHECK(count_zeros(*t) == filter_prune_count(0.8, t->numel()));
    }
    CHECK(s["sparsity"].get<double>() == Approx(0.8).margin(0.002));
    CHECK(s["method"] == method);
  }
}

TEST_CASE("GReg filter mode: filters and their BN removed, the slimmed export evaluates the same", "[greg][train][slim]") {
  test::TempDir tmp("greg_f");
  for (std::string method : {"greg1", "greg2"}) {
    INFO(method);
    std::string out = tmp.file(method);
    nlohmann::json j = greg_run(out, method, "filter");
    auto g = make_greg(j);
    std::filesystem::create_directories(out);
    g->set_slim_export(out, j["model"]);
    nlohmann::json s = train(as_manifest(j), *g);
    REQUIRE(std::filesystem::exists(out + "/model_slim.json"));
    nlohmann::json spec = nlohmann::json::parse(std::ifstream(out + "/model_slim.json"));
    // widths 8, 16 -> ceil(0.8 n) pruned -> 1, 3 kept; hidden 32 -> 6 kept.
    CHECK(spec["widths"] == std::vector<int64_t>{1, 3});
    CHECK(spec["hidden"] == 6);
    // The masked (deployed) model and the slim one give the same logits.
    Config full_spec(j["model"], "test.json", "/model"), slim_spec(spec, "model_slim.json", "");
    auto full = build_model(full_spec);
    auto slim = build_model(slim_spec);
    load(*full, out + "/model.safetensors");
    load(*slim, out + "/model_slim.safetensors");
    std::vector<float> xv(8 * 28 * 28);
    for (size_t i = 0; i < xv.size(); ++i) xv[i] = philox::normal(21, 0, int64_t(i));
    Tensor x = Tensor::from_vector(Shape{8, 1, 28, 28}, xv);
    auto a = (*full)(x).to_vector<float>(), b = (*slim)(x).to_vector<float>();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).epsilon(1e-4).margin(1e-5));
    CHECK(s["slim_parameters"].get<int64_t>() == slim->num_parameters());
    CHECK(s["removed_filters"]["0.weight"] == 7);
    // The BN of a removed filter is zeroed in the deployed model.
    SafetensorsFile f = load_safetensors(out + "/model.safetensors");
    auto gamma = f.find("1.weight")->to_vector<float>(), beta = f.find("1.bias")->to_vector<float>();
    for (int64_t r : g->pruned_rows()[0]) CHECK((gamma[size_t(r)] == 0.0f && beta[size_t(r)] == 0.0f));
  }
}

TEST_CASE("GReg resumed in the middle of the lambda growth ends bit-identical", "[greg][train][resume]") {
  test::TempDir tmp("greg_r");
  for (std::string method : {"greg1", "greg2"}) {
    // Step 9 = iteration 3 of the regularization round (growth under way), between checkpoints.
    std::string a = tmp.file(method + "a"), b = tmp.file(method + "b");
    nlohmann::json ja = greg_run(a, method, "filter"), jb = greg_run(b, method, "filter");
    ja["train"]["checkpoint_every_steps"] = 2;
    jb["train"]["checkpoint_every_steps"] = 2;
    auto m1 = make_greg(ja);
    nlohmann::json full = train(as_manifest(ja), *m1);
    auto m2 = make_greg(jb);
    TrainOptions kill;
    kill.interrupt = [](int64_t step) { return step == 9; };
    CHECK(train(as_manifest(jb), *m2, kill).empty());
    auto m3 = make_greg(jb);
    TrainOptions resume;
    resume.resume = true;
    nlohmann::json resumed = train(as_manifest(jb), *m3, resume);
    INFO(method);
    CHECK(test::metrics_without_timing(a) == test::metrics_without_timing(b));
    CHECK(test::same_checkpoint_weights(a, b));
    CHECK(resumed["test_accuracy"] == full["test_accuracy"]);
    CHECK(m3->pruned_rows() == m1->pruned_rows());
  }
}

namespace {

// One optimizer step as a step callback sees it: its round, the lr the method gave it, and
// whether the hard prune had happened once it was taken.
struct GregStep {
  int64_t round;
  float lr;
  bool pruned_after;
};

// Records every step of a GReg run (the lr through the method's own hook, which depends only on
// the round and the scheduled lr).
StepCallback record_steps(const Greg& g, std::vector<GregStep>& steps) {
  return [&g, &steps](Loop& loop, const StepEvent& e) {
    StepInfo at{};
    at.round = loop.at().round;
    steps.push_back({at.round, g.lr(at, e.lr), g.pruned()});
    return StepAction::go_on;
  };
}

}  // namespace

TEST_CASE("GReg fine-tunes from the step after the hard prune, at finetune_lr, with no masked steps at lr_prune",
          "[greg][train]") {
  test::TempDir tmp("greg_ft");
  for (std::string method : {"greg1", "greg2"}) {
    INFO(method);
    nlohmann::json j = greg_run(tmp.file(method), method, "unstructured");
    j["pruning"]["stabilize_iterations"] = 4;  // the prune in the middle of an epoch
    j["pruning"]["finetune_lr"] = 0.03;
    auto g = make_greg(j);
    std::vector<GregStep> steps;
    TrainOptions opts;
    opts.step_callbacks.push_back(record_steps(*g, steps));
    train(as_manifest(j), *g, opts);
    // (U - 1) K_u + K_s + 1 regularization steps: GReg-1 U = 5, GReg-2 2 + 5.
    const size_t reg = method == "greg1" ? 13 : 17;
    REQUIRE(steps.size() == 6 + reg + 6);  // pretrain 1 epoch, the regularization, fine-tune 1 epoch
    for (size_t k = 0; k < steps.size(); ++k) {
      INFO("step " << k + 1);
      const bool in_reg = k >= 6 && k < 6 + reg;
      CHECK(steps[k].round == (k < 6 ? 0 : in_reg ? 1 : 2));
      if (in_reg) CHECK(steps[k].lr == 0.01f);                     // lr_prune, and only before the prune:
      CHECK(steps[k].pruned_after == (k + 1 >= 6 + reg));         // the last of them prunes
    }
    // The next step is fine-tuning's first: cosine at its start, scaled from 0.05 to finetune_lr.
    CHECK(steps[6 + reg].lr == Approx(0.03));
    auto metrics = test::metrics_without_timing(tmp.file(method));
    REQUIRE(metrics.size() == 5);  // the regularization's epochs: 6, 6, then 1 (GReg-1) or 5 (GReg-2)
    CHECK(metrics[3]["greg_phase"] == "pruned");
    CHECK(metrics[3]["greg_iteration"] == int64_t(reg));
    CHECK(metrics[4]["round"] == 2);
  }
}

TEST_CASE("GReg resumed at the hard prune or at fine-tuning's first step ends bit-identical", "[greg][train][resume]") {
  test::TempDir tmp("greg_rp");
  for (std::string method : {"greg1", "greg2"}) {
    const int64_t prune_step = method == "greg1" ? 6 + 13 : 6 + 17;
    auto run = [&](const std::string& out) {
      nlohmann::json j = greg_run(out, method, "unstructured");
      j["pruning"]["stabilize_iterations"] = 4;
      j["pruning"]["finetune_lr"] = 0.03;
      return j;
    };
    std::string ref = tmp.file(method + "ref");
    auto m0 = make_greg(run(ref));
    nlohmann::json full = train(as_manifest(run(ref)), *m0);
    // A checkpoint written right after the pruning step, mid-epoch (the run then killed before its
    // short epoch is recorded), and a kill at fine-tuning's first step (the round's end checkpoint).
    for (bool mid_epoch : {true, false}) {
      INFO(method << (mid_epoch ? ": mid-epoch checkpoint after the prune" : ": killed at fine-tuning's first step"));
      std::string out = tmp.file(method + (mid_epoch ? "m" : "f"));
      auto m1 = make_greg(run(out));
      TrainOptions kill;
      if (mid_epoch) {
        kill.step_callbacks.push_back([&](Loop& loop, const StepEvent&) {
          return loop.at().step == prune_step ? StepAction::save : StepAction::go_on;
        });
        kill.step_callbacks.push_back([&](Loop& loop, const StepEvent&) {
          return loop.at().step == prune_step ? StepAction::abandon : StepAction::go_on;
        });
      } else {
        kill.interrupt = [&](int64_t step) { return step == prune_step + 1; };
      }
      CHECK(train(as_manifest(run(out)), *m1, kill).empty());
      auto m2 = make_greg(run(out));
      TrainOptions resume;
      resume.resume = true;
      nlohmann::json resumed = train(as_manifest(run(out)), *m2, resume);
      CHECK(test::metrics_without_timing(out) == test::metrics_without_timing(ref));
      CHECK(test::same_checkpoint_weights(out, ref));
      CHECK(resumed["test_accuracy"] == full["test_accuracy"]);
    }
  }
}

TEST_CASE("GReg refuses bad settings with the JSON path", "[greg]") {
  auto fails = [](nlohmann::json p, const std::string& what) {
    Config pc(p, "test.json", "/pruning");
    CHECK_THROWS_WITH(
        [&] {
          auto m = make_pruning_method(pc, {"greg1", "greg2"});
          pc.finish();
        }(),
        Catch::Contains(what));
  };
  nlohmann::json ok = {{"method", "greg1"}, {"ratio", 0.5}, {"reg_epochs", 2}, {"pretrain_epochs", 1}};
  auto with = [&](const char* k, nlohmann::json v) {
    nlohmann::json p = ok;
    p[k] = v;
    return p;
  };
  fails(with("ratio", 1.5), "/pruning/ratio");
  fails(with("mode", "channel"), "/pruning/mode");
  fails(with("update_interval", 0), "test.json: /pruning/update_interval: expected an integer in [1, 1000000], found 0");
  fails(with("reg_granularity_prune", -1e-4), "/pruning/reg_granularity_prune: expected a number in [1e-08, 1], found -0.0001");
  fails(with("reg_epochs", 0), "/pruning/reg_epochs");
  fails(with("init_from", "x.safetensors"), "/pruning/init_from: has moved to the manifest's top level");
  fails(with("reg_granularity_pick", 1e-5), "reg_granularity_pick");  // GReg-1 has no picking phase
  nlohmann::json g2 = with("method", "greg2");
  g2["reg_granularity_recover"] = 0.1;
  fails(g2, "/pruning/reg_granularity_recover: expected a number in [-1, 0], found 0.1");
  fails(with("layer_ratios", {{{"pattern", "x"}, {"ratio", 2}}}), "/pruning/layer_ratios/0/ratio: expected a number in [0, 1], found 2");

  // A regularization round too short for the worst case, and a pattern matching nothing.
  test::TempDir tmp("greg_bad");
  nlohmann::json j = greg_run(tmp.file("short"), "greg1", "unstructured");
  j["pruning"]["reg_epochs"] = 1;
  auto g = make_greg(j);
  CHECK_THROWS_WITH(train(as_manifest(j), *g), Catch::Contains("/pruning/reg_epochs") && Catch::Contains("at least 2"));
  nlohmann::json k = greg_run(tmp.file("pattern"), "greg1", "unstructured");
  k["pruning"]["layer_ratios"] = {{{"pattern", "nothing.*"}, {"ratio", 0.1}}};
  auto g2m = make_greg(k);
  CHECK_THROWS_WITH(train(as_manifest(k), *g2m), Catch::Contains("/pruning/layer_ratios/0/pattern"));
  nlohmann::json c = greg_run(tmp.file("classifier"), "greg1", "filter");
  c["pruning"].erase("layer_ratios");
  auto g3 = make_greg(c);
  CHECK_THROWS_WITH(train(as_manifest(c), *g3), Catch::Contains("output channels of 12.weight"));
}

TEST_CASE("GReg needs a trained network: pretrain_epochs or the top-level init_from, which loads the weights",
          "[greg][train]") {
  test::TempDir tmp("greg_init");
  nlohmann::json none = greg_run(tmp.file("none"), "greg1", "unstructured");
  none["pruning"].erase("pretrain_epochs");
  auto gn = make_greg(none);
  CHECK_THROWS_WITH(train(as_manifest(none), *gn), Catch::Contains("/pruning/pretrain_epochs") &&
                                                       Catch::Contains("top-level \"init_from\""));
  nlohmann::json dense = greg_run(tmp.file("dense"), "greg1", "unstructured");
  dense.erase("pruning");
  dense["train"]["epochs"] = 1;
  train_classifier(as_manifest(dense));
  nlohmann::json j = greg_run(tmp.file("pruned"), "greg1", "unstructured");
  j["pruning"].erase("pretrain_epochs");
  j["init_from"] = tmp.file("dense") + "/model.safetensors";
  auto g = make_greg(j);
  CHECK(g->rounds() == 2);
  nlohmann::json s = train(as_manifest(j), *g);
  // Regularize 2 (12 iterations: 5 updates, the last at 8, + 3, then the prune) + fine-tune 1.
  CHECK(test::metrics_without_timing(tmp.file("pruned")).size() == 3);
  CHECK(s["sparsity"].get<double>() == Approx(0.8).margin(0.002));
  nlohmann::json bad = greg_run(tmp.file("bad"), "greg1", "unstructured");
  bad["pruning"].erase("pretrain_epochs");
  bad["init_from"] = tmp.file("missing.safetensors");
  auto gb = make_greg(bad);
  CHECK_THROWS_WITH(train(as_manifest(bad), *gb), Catch::Contains(": /init_from: ") && Catch::Contains("missing.safetensors"));
}

TEST_CASE("GReg's shipped manifests build their method strictly", "[greg][manifests]") {
  int n = 0;
  for (const char* dir : {TRIM_SOURCE_DIR "/apps/manifests", TRIM_SOURCE_DIR "/apps/manifests/published"})
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      std::string f = e.path().filename().string();
      if (f.find("greg") == std::string::npos) continue;
      INFO(f);
      nlohmann::json j = nlohmann::json::parse(std::ifstream(e.path()));
      Config pc(j["pruning"], f, "/pruning");
      auto m = make_pruning_method(pc, {"greg1", "greg2"});
      pc.finish();
      CHECK(m->name() == j["pruning"]["method"]);
      ++n;
    }
  CHECK(n == 13);
}

TEST_CASE("GReg filter mode on a ResNet-20: conv1 filters of every block removed, the slimmed ResNet evaluates the same",
          "[greg][train][slim]") {
  test::TempDir tmp("greg_r20");
  std::string out = tmp.file("r20");
  nlohmann::json j = greg_run(out, "greg1", "filter");
  j["model"] = {{"name", "resnet20"}, {"in_channels", 1}, {"stage_widths", {4, 8, 8}}};
  j["pruning"].erase("layer_ratios");
  j["pruning"]["ratio"] = 0.5;
  j["pruning"]["include"] = {"layer*.*.conv1.weight"};
  auto g = make_greg(j);
  std::filesystem::create_directories(out);
  g->set_slim_export(out, j["model"]);
  nlohmann::json s = train(as_manifest(j), *g);
  nlohmann::json spec = nlohmann::json::parse(std::ifstream(out + "/model_slim.json"));
  CHECK(spec["widths"] == std::vector<int64_t>{2, 2, 2, 4, 4, 4, 4, 4, 4});
  CHECK(spec["stage_widths"] == std::vector<int64_t>{4, 8, 8});
  Config full_spec(j["model"], "test.json", "/model"), slim_spec(spec, "model_slim.json", "");
  auto full = build_model(full_spec);
  auto slim = build_model(slim_spec);
  load(*full, out + "/model.safetensors");
  load(*slim, out + "/model_slim.safetensors");
  std::vector<float> xv(4 * 28 * 28);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = philox::normal(22, 0, int64_t(i));
  Tensor x = Tensor::from_vector(Shape{4, 1, 28, 28}, xv);
  auto a = (*full)(x).to_vector<float>(), b = (*slim)(x).to_vector<float>();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).epsilon(1e-4).margin(1e-5));
  CHECK(s["slim_parameters"].get<int64_t>() == slim->num_parameters());
  CHECK(s["removed_filters"]["layer2.1.conv1.weight"] == 4);
  // A block's conv2 feeds the residual add: its filters cannot go.
  j["pruning"]["include"] = {"layer1.0.conv2.weight"};
  auto g2 = make_greg(j);
  CHECK_THROWS_WITH(train(as_manifest(j), *g2), Catch::Contains("test.json: /pruning: greg filter mode") &&
                                                   Catch::Contains("layer1.0.conv2.weight") &&
                                                   Catch::Contains("feed a residual add"));
}
