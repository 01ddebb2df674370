// The magnitude baselines and SAP on the training pipeline (pruning/README.md, pruning/README.md#sap):
// schedules and counts, rewinding, nesting, deployed sparsity counted from model.safetensors,
// resume in the middle of pruning, and bad settings.
#include <catch2/catch.hpp>

#include <cmath>

#include "apps/runner/trainer.h"
#include "core/io/safetensors.h"
#include "core/random/generator.h"
#include "layers/layers.h"
#include "models/models.h"
#include "pruning/magnitude.h"
#include "pruning/registry.h"
#include "pruning/rewind.h"
#include "pruning/select.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;

using test::as_manifest;
using test::small_run;
using test::mlp_run;
using test::run_method;

namespace {

const std::vector<std::string> kMagnitude{"omp", "gmp", "lottery", "os_sap"};

// Sparsity of every conv and linear weight (ndim > 1) of a run's model.safetensors.
double deployed_sparsity(const std::string& run) {
  SafetensorsFile f = load_safetensors(run + "/model.safetensors");
  int64_t zeros = 0, n = 0;
  for (const NamedTensor& t : f.tensors) {
    if (t.tensor.ndim() < 2 || t.name.find("weight") == std::string::npos) continue;
    for (float v : t.tensor.to_vector<float>()) zeros += v == 0.0f, ++n;
  }
  return double(zeros) / double(n);
}


// A store over a small MLP with the base's views, for driving a method's hooks by hand.
struct Bench {
  nlohmann::json model_spec = {{"name", "mlp"}, {"in_features", 20}, {"hidden", {12}}, {"num_classes", 5}};
  std::shared_ptr<Module> model;
  std::shared_ptr<ParamStore> store;
  explicit Bench(TrainingMethod& m) {
    default_generator().set_state(4, 0);
    Config spec(model_spec, "test", "/model");
    model = build_model(spec);
    std::vector<OptimParam> ps;
    for (const NamedParameter& p : model->named_parameters()) ps.push_back({p.name, p.tensor});
    m.add_parameters(*model, ps);
    store = std::make_shared<ParamStore>(ps);
    m.attach(*model, *store);
  }
  std::vector<float> weight(int i) const { return store->slot(size_t(i)).param.tensor.to_vector<float>(); }
  void perturb() {  // as if trained: every parameter moves
    Tensor p = store->params();
    std::vector<float> v = p.to_vector<float>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = v[i] * 1.5f + 0.01f * float(i % 7);
    p.copy_(Tensor::from_vector(p.shape(), v));
  }
};

StepInfo round_start(int64_t r) {
  StepInfo s;
  s.round = r;
  return s;
}

int64_t zeros_of(const std::vector<float>& v) {
  int64_t z = 0;
  for (float x : v) z += x == 0.0f;
  return z;
}

}  // namespace

TEST_CASE("GMP's cubic schedule (pruning/README.md oracle 1)", "[pruning][gmp]") {
  auto s = [](int64_t t) { return gmp_sparsity(0.0, 0.9, 0, 100, 10, t); };
  CHECK(s(0) == 0.0);
  CHECK(s(100) == Approx(0.2439).margin(1e-4));
  CHECK(s(200) == Approx(0.4392).margin(1e-4));
  CHECK(s(500) == Approx(0.7875).margin(1e-4));
  CHECK(s(900) == Approx(0.8991).margin(1e-4));
  CHECK(s(1000) == Approx(0.9));
  CHECK(s(1500) == Approx(0.9));
}

TEST_CASE("lottery rounds rewind to w_init under nested masks with exact counts (oracles 3, 4)", "[pruning][lottery]") {
  nlohmann::json j = {{"method", "lottery"}, {"rounds", 3}, {"scope", "layer"}};
  Config cfg(j, "test", "/pruning");
  Lottery lt("lottery", cfg);
  cfg.finish();
  Bench b(lt);
  Tensor init = b.store->params().clone();
  std::vector<int64_t> alive{12 * 20, 5 * 12};  // the two weight tensors
  std::vector<float> prev_mask0(size_t(alive[0]), 1.0f);
  for (int64_t r = 1; r <= 3; ++r) {
    b.perturb();
    lt.begin_round(round_start(r), *b.model, *b.store);
    std::vector<float> now = b.store->params().to_vector<float>(), w0 = init.to_vector<float>();
    Tensor mask = b.store->state("mask");
    std::vector<float> m = mask.to_vector<float>();
    for (size_t i = 0; i < now.size(); ++i) REQUIRE(now[i] == w0[i] * m[i]);  // bit for bit, BN-free MLP
    for (int l = 0; l < 2; ++l) {
      alive[size_t(l)] -= lt_prune_count(alive[size_t(l)]);
      std::vector<float> ml = b.store->view(mask, size_t(2 * l)).to_vector<float>();
      CHECK(int64_t(ml.size()) - zeros_of(ml) == alive[size_t(l)]);
      if (l == 0) {
        for (size_t i = 0; i < ml.size(); ++i) REQUIRE(ml[i] <= prev_mask0[i]);  // nested
        prev_mask0 = ml;
      }
    }
    CHECK(zeros_of(b.store->view(mask, 1).to_vector<float>()) == 0);  // biases never pruned
  }
}

TEST_CASE("os_sap ranks the dense weights of round 0 in every round (oracle 6)", "[pruning][lottery]") {
  nlohmann::json j = {{"method", "os_sap"}, {"rounds", 3}, {"scope", "global"}};
  Config cfg(j, "test", "/pruning");
  Lottery os("os_sap", cfg);
  Bench b(os);
  b.perturb();
  std::vector<float> dense0 = b.weight(0), dense1 = b.weight(2);
  for (int64_t r = 1; r <= 3; ++r) {
    if (r > 1) b.perturb();  // later rounds train other weights; the ranking must not follow them
    os.begin_round(round_start(r), *b.model, *b.store);
    std::vector<float> m0 = b.store->view(b.store->state("mask"), 0).to_vector<float>();
    std::vector<float> m1 = b.store->view(b.store->state("mask"), 2).to_vector<float>();
    // The survivors are the top set of |w_dense| over both tensors: every kept magnitude >= every pruned one.
    float min_kept = INFINITY, max_pruned = 0.0f;
    auto scan = [&](const std::vector<float>& m, const std::vector<float>& dense) {
      for (size_t i = 0; i < m.size(); ++i) {
        if (m[i] != 0.0f) min_kept = std::min(min_kept, std::fabs(dense[i]));
        else max_pruned = std::max(max_pruned, std::fabs(dense[i]));
      }
    };
    scan(m0, dense0);
    scan(m1, dense1);
    CHECK(min_kept >= max_pruned);
  }
}

// Drives rounds 1..rounds of a rewinding method by hand and returns, per round, the metrics line's
// (pruned_this_round, cap_held_back) and the summary's total.
struct CapReport {
  std::vector<std::pair<int64_t, int64_t>> rounds;
  nlohmann::json summary;
};
CapReport cap_report(RewindRounds& m, Bench& b, int64_t rounds) {
  CapReport r;
  for (int64_t t = 1; t <= rounds; ++t) {
    b.perturb();
    m.begin_round(round_start(t), *b.model, *b.store);
    nlohmann::json line;
    m.end_epoch(round_start(t), *b.model, *b.store, line);
    CHECK(line["cap_held_back_fraction"].get<double>() == Approx(line["cap_held_back"].get<double>() / 300.0));
    r.rounds.push_back({line["pruned_this_round"].get<int64_t>(), line["cap_held_back"].get<int64_t>()});
  }
  m.finalize(*b.model, *b.store, r.summary);
  return r;
}

TEST_CASE("the target cap reports what it held back from the method's own count", "[pruning][lottery][cap]") {
  // 300 prunable weights (20x12 + 12x5), global scope, 20 %: the rule wants ceil((n - 1)/5) of the
  // n unpruned: 60 of 300, 48 of 240, 39 of 192 uncapped; 60, 48 of 240, 42 of 210 under a 90-weight cap.
  using Rounds = std::vector<std::pair<int64_t, int64_t>>;
  SECTION("uncapped (no target): the rule alone, nothing held back") {
    nlohmann::json j = {{"method", "lottery"}, {"rounds", 3}};
    Config cfg(j, "test", "/pruning");
    Lottery lt("lottery", cfg);
    Bench b(lt);
    CapReport r = cap_report(lt, b, 3);
    CHECK(r.rounds == Rounds{{60, 0}, {48, 0}, {39, 0}});
    CHECK(r.summary["cap_held_back"] == 0);
    CHECK(r.summary["pruned_parameters"] == 147);
  }
  SECTION("a target the rule never reaches: the cap does not bind") {
    nlohmann::json j = {{"method", "lottery"}, {"rounds", 3}, {"target", 0.9}};
    Config cfg(j, "test", "/pruning");
    Lottery lt("lottery", cfg);
    Bench b(lt);
    CHECK(cap_report(lt, b, 3).rounds == Rounds{{60, 0}, {48, 0}, {39, 0}});
  }
  SECTION("target 0.3 (90 of 300): round 2 prunes 30 of the rule's 48, round 3 none of its 42") {
    nlohmann::json j = {{"method", "os_sap"}, {"rounds", 3}, {"target", 0.3}};
    Config cfg(j, "test", "/pruning");
    Lottery os("os_sap", cfg);
    Bench b(os);
    CapReport r = cap_report(os, b, 3);
    CHECK(r.rounds == Rounds{{60, 0}, {30, 18}, {0, 42}});
    CHECK(r.summary["cap_held_back"] == 60);
    CHECK(r.summary["cap_held_back_fraction"].get<double>() == Approx(0.2));
    CHECK(r.summary["pruned_parameters"] == 90);
  }
  SECTION("rate 0.37: ceil((300 - 1) x 0.37) = 111, then ceil((189 - 1) x 0.37) = 70 capped to 135 - 111 = 24") {
    nlohmann::json j = {{"method", "lottery"}, {"rounds", 2}, {"target", 0.45}, {"rate", 0.37}};
    Config cfg(j, "test", "/pruning");
    Lottery lt("lottery", cfg);
    cfg.finish();
    Bench b(lt);
    CapReport r = cap_report(lt, b, 2);
    CHECK(r.rounds == Rounds{{111, 0}, {24, 46}});
    CHECK(r.summary["cap_held_back"] == 46);
  }
  SECTION("SAP, layer scope: the cap fills the units in order; held back = the rule's count - pruned") {
    nlohmann::json j = {{"method", "sap"}, {"rounds", 1}, {"scope", "layer"}, {"target", 0.1}};
    Config cfg(j, "test", "/pruning");
    Sap sap(cfg);
    Bench b(sap);
    Tensor before = b.store->params().clone();
    b.perturb();  // what cap_report's first perturb() will give
    std::vector<float> w0 = b.weight(0), w1 = b.weight(2);
    SapAmount a;
    int64_t want = sap_prune_count(240, pq_index(w0.data(), nullptr, 240, 0.5, 1.0), a) +
                   sap_prune_count(60, pq_index(w1.data(), nullptr, 60, 0.5, 1.0), a);
    REQUIRE(want > 30);  // the rule wants more than the target's 30
    Tensor params = b.store->params();
    params.copy_(before);
    CapReport r = cap_report(sap, b, 1);
    CHECK(r.rounds == Rounds{{30, want - 30}});
    CHECK(r.summary["cap_held_back"] == want - 30);
  }
}

TEST_CASE("SAP prunes each unit by its PQ Index bound", "[pruning][sap]") {
  nlohmann::json j = {{"method", "sap"}, {"rounds", 2}, {"scope", "layer"}, {"p", 0.5}, {"q", 1.0}, {"gamma", 1.0}};
  Config cfg(j, "test", "/pruning");
  Sap sap(cfg);
  Bench b(sap);
  b.perturb();
  SapAmount a;
  std::vector<int64_t> want;
  for (int i : {0, 2}) {
    std::vector<float> w = b.weight(i);
    want.push_back(sap_prune_count(int64_t(w.size()), pq_index(w.data(), nullptr, int64_t(w.size()), 0.5, 1.0), a));
  }
  sap.begin_round(round_start(1), *b.model, *b.store);
  for (int l = 0; l < 2; ++l) {
    std::vector<float> m = b.store->view(b.store->state("mask"), size_t(2 * l)).to_vector<float>();
    CHECK(zeros_of(m) == want[size_t(l)]);
    CHECK(want[size_t(l)] > 0);
  }
}

TEST_CASE("pruning methods reach their target, counted from model.safetensors", "[pruning][train]") {
  test::TempDir tmp("prune-targets");
  struct Case {
    const char* name;
    nlohmann::json pruning;
    double target;
  };
  std::vector<Case> cases{
      {"omp", {{"method", "omp"}, {"target", 0.9}, {"finetune_epochs", 1}}, 0.9},
      {"gmp", {{"method", "gmp"}, {"target", 0.8}, {"start_step", 1}, {"interval_steps", 2}, {"events", 4}}, 0.8},
      {"lottery", {{"method", "lottery"}, {"rounds", 2}, {"target", 0.3}}, 0.3},
      {"sap", {{"method", "sap"}, {"rounds", 1}, {"scope", "layer"}}, -1.0},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    std::string out = tmp.file(c.name);
    nlohmann::json s = run_method(mlp_run(out, c.pruning));
    double got = deployed_sparsity(out);
    CHECK(s["sparsity"].get<double>() == Approx(got).margin(1e-12));
    if (c.target >= 0) CHECK(got == Approx(c.target).margin(1e-3));
    if (c.target < 0) CHECK(got > 0.05);
    CHECK(s["method"] == c.name);
    CHECK(s["remaining_macs"].get<int64_t>() < s["macs"].get<int64_t>());
    CHECK(s["test_accuracy"].get<double>() > 0.15);  // learns something in 12 steps on 600 images
    auto metrics = test::metrics_without_timing(out);
    REQUIRE(!metrics.empty());
    for (const char* k : {"sparsity", "layer_sparsity", "pqi", "remaining_macs"}) CHECK(metrics.back().contains(k));
  }
}

TEST_CASE("a run resumed in the middle of pruning ends with the same masks and metrics", "[pruning][train][resume]") {
  test::TempDir tmp("prune-resume");
  std::vector<std::pair<nlohmann::json, int64_t>> methods{
      {{{"method", "gmp"}, {"target", 0.7}, {"start_step", 2}, {"interval_steps", 2}, {"events", 4}}, 8},  // mid-schedule (ends at step 10 of 0..11)
      {{{"method", "lottery"}, {"rounds", 2}}, 20},  // round 1, epoch 1 (6 steps per epoch)
      {{{"method", "lottery"}, {"rounds", 2}, {"target", 0.3}}, 26},  // round 2, where the cap binds
  };
  for (const auto& [p, kill_at] : methods) {
    const std::string run = p["method"].get<std::string>() + std::to_string(kill_at);  // one folder per case
    std::string a = tmp.file(run + "a"), b = tmp.file(run + "b");
    nlohmann::json ja = mlp_run(a, p), jb = mlp_run(b, p);
    ja["train"]["checkpoint_every_steps"] = 3;
    jb["train"]["checkpoint_every_steps"] = 3;
    nlohmann::json full = run_method(ja);
    TrainOptions kill;
    kill.interrupt = [kill_at = kill_at](int64_t step) { return step == kill_at; };
    CHECK(run_method(jb, kill).empty());
    TrainOptions resume;
    resume.resume = true;
    nlohmann::json resumed = run_method(jb, resume);
    INFO(p.dump());
    CHECK(test::metrics_without_timing(a) == test::metrics_without_timing(b));
    CHECK(resumed["sparsity"] == full["sparsity"]);
    CHECK(resumed["test_accuracy"] == full["test_accuracy"]);
    CHECK(resumed.value("cap_held_back", -1) == full.value("cap_held_back", -1));
    CHECK(test::same_checkpoint_weights(a, b));  // weights, momentum, masks, w_init
  }
}

TEST_CASE("bad pruning settings give one clear error naming the JSON path", "[pruning][errors]") {
  auto build = [](const nlohmann::json& p, std::vector<std::string> allowed = kMagnitude) {
    Config cfg(p, "run.json", "/pruning");
    auto m = make_pruning_method(cfg, allowed);
    cfg.finish();
    return m;
  };
  CHECK_THROWS_WITH(build({{"method", "omp"}, {"target", 1.0}}), Catch::Contains("run.json: /pruning/target: expected a number in [0, 1), found 1"));
  CHECK_THROWS_WITH(build({{"method", "omp"}, {"target", -0.1}}), Catch::Contains("/pruning/target"));
  CHECK_THROWS_WITH(build({{"method", "prune_all"}}), Catch::Contains("/pruning/method: unknown pruning method \"prune_all\""));
  CHECK_THROWS_WITH(build({{"method", "sap"}, {"rounds", 2}}), Catch::Contains("/pruning/method: \"sap\" is not run by this app"));
  CHECK_THROWS_WITH(build({{"method", "gmp"}, {"target", 0.9}, {"interval_steps", 0}, {"events", 3}}),
                    Catch::Contains("/pruning/interval_steps: expected an integer in [1, 1099511627776], found 0"));
  CHECK_THROWS_WITH(build({{"method", "omp"}, {"target", 0.5}, {"sparsity", 0.5}}), Catch::Contains("/pruning") && Catch::Contains("sparsity"));
  CHECK_THROWS_WITH(build({{"method", "sap"}, {"rounds", 2}, {"beta", 1.0}}, {"sap"}), Catch::Contains("/pruning/beta: expected a number in (0, 1), found 1"));
  CHECK_THROWS_WITH(build({{"method", "sap"}, {"rounds", 2}, {"p", 1.0}, {"q", 0.5}}, {"sap"}), Catch::Contains("/pruning/q"));
  CHECK_THROWS_WITH(build({{"method", "lottery"}, {"rounds", 2}, {"rate", 0.12345}}),
                    Catch::Contains("run.json: /pruning/rate: expected a multiple of 0.0001"));
  CHECK_THROWS_WITH(build({{"method", "lottery"}, {"rounds", 2}, {"rate", 1.0}}), Catch::Contains("/pruning/rate: expected a number in (0, 1)"));
  CHECK_THROWS_WITH(build({{"method", "sap"}, {"rounds", 2}, {"rate", 0.3}}, {"sap"}), Catch::Contains("/pruning") && Catch::Contains("rate"));
  // A pattern that matches nothing is reported when the model is known.
  test::TempDir tmp("prune-errors");
  nlohmann::json j = mlp_run(tmp.file("run"), {{"method", "omp"}, {"target", 0.5}, {"exclude", {"no.such.layer"}}});
  CHECK_THROWS_WITH(run_method(j), Catch::Contains("/pruning/exclude/0") && Catch::Contains("no.such.layer"));
}
