// Late rewinding (pruning/rewind.h, pruning/README.md#lottery-and-os_sap): lottery, os_sap and sap
// with rewind_step k > 0 save the weights after k steps of round 0 and rewind every later round to
// them; checkpoints keep the point, so a run interrupted before or after it resumes exactly; a k
// beyond round 0 is refused at start-up.
#include <catch2/catch.hpp>

#include <filesystem>

#include "apps/runner/loop.h"
#include "apps/runner/trainer.h"
#include "core/io/safetensors.h"
#include "core/random/generator.h"
#include "models/models.h"
#include "pruning/registry.h"
#include "pruning/rewind.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;
using test::mlp_run;
using test::run_method;


TEST_CASE("rewind_step: later rounds rewind to the weights saved after k steps of round 0", "[pruning][rewind_step]") {
  for (const char* name : {"lottery", "os_sap", "sap"}) {
    INFO(name);
    test::TempDir tmp("rewind_step");
    nlohmann::json j = mlp_run(tmp.file("run"), {{"method", name}, {"rounds", 1}, {"rewind_step", 4}});
    std::map<int64_t, std::vector<float>> after;  // the params arena after n updates (n = 1..)
    std::vector<float> round1_start_masked, mask;
    TrainOptions o;
    o.step_callbacks.push_back([&](Loop& l, const StepEvent&) {
      if (l.at().round == 0) after[l.at().step] = l.run().store->params().to_vector<float>();
      return StepAction::go_on;
    });
    run_method(j, o);
    // The checkpoint keeps the rewind point: the weights after exactly 4 updates.
    SafetensorsFile ck = load_safetensors(tmp.file("run") + "/checkpoint.safetensors");
    const Tensor* w = ck.find("method.w_init");
    REQUIRE(w);
    std::vector<float> saved = w->to_vector<float>();
    CHECK(saved == after.at(4));
    CHECK(saved != after.at(3));
    CHECK(saved != after.at(5));
  }
}

TEST_CASE("rewind_step: round 1 starts from the rewind point under its mask", "[pruning][rewind_step]") {
  nlohmann::json p = {{"method", "lottery"}, {"rounds", 2}, {"scope", "layer"}, {"rewind_step", 3}};
  Config cfg(p, "test", "/pruning");
  Lottery lt("lottery", cfg);
  cfg.finish();
  default_generator().set_state(4, 0);
  nlohmann::json spec = {{"name", "mlp"}, {"in_features", 20}, {"hidden", {12}}, {"num_classes", 5}};
  Config sc(spec, "test", "/model");
  auto model = build_model(sc);
  std::vector<OptimParam> ps;
  for (const NamedParameter& q : model->named_parameters()) ps.push_back({q.name, q.tensor});
  lt.add_parameters(*model, ps);
  auto store = std::make_shared<ParamStore>(ps);
  lt.attach(*model, *store);
  auto move = [&](float by) {  // as if trained: every parameter moves
    Tensor a = store->params();
    std::vector<float> v = a.to_vector<float>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = v[i] * 1.1f + by * float(i % 5);
    a.copy_(Tensor::from_vector(a.shape(), v));
  };
  DenseSgd opt(store, SgdOptions{});
  std::vector<float> at3;
  for (int64_t s = 0; s < 6; ++s) {
    move(0.01f);  // update s
    StepInfo at;
    at.step = s;
    lt.after_step(at, opt);
    if (s == 2) at3 = store->params().to_vector<float>();  // after 3 updates
  }
  StepInfo r1;
  r1.round = 1;
  lt.begin_round(r1, *model, *store);
  std::vector<float> now = store->params().to_vector<float>(), m = store->state("mask").to_vector<float>();
  REQUIRE(now.size() == at3.size());
  int64_t pruned = 0;
  for (size_t i = 0; i < now.size(); ++i) {
    REQUIRE(now[i] == at3[i] * m[i]);
    pruned += m[i] == 0.0f;
  }
  CHECK(pruned > 0);
}

TEST_CASE("rewind_step: an interrupted run resumes exactly, before and after the rewind point",
          "[pruning][rewind_step][resume]") {
  test::TempDir tmp("rewind_step_resume");
  for (const char* name : {"lottery", "os_sap", "sap"}) {
    // Killed at step 5 (last checkpoint at 3, before the point at 7) and at 20 (round 1, epoch 2).
    for (int64_t kill_at : {5, 20}) {
      nlohmann::json p = {{"method", name}, {"rounds", 2}, {"rewind_step", 7}};
      std::string tag = std::string(name) + std::to_string(kill_at);
      std::string a = tmp.file(tag + "a"), b = tmp.file(tag + "b");
      nlohmann::json ja = mlp_run(a, p), jb = mlp_run(b, p);
      ja["train"]["checkpoint_every_steps"] = 3;
      jb["train"]["checkpoint_every_steps"] = 3;
      nlohmann::json full = run_method(ja);
      TrainOptions kill;
      kill.interrupt = [kill_at](int64_t step) { return step == kill_at; };
      CHECK(run_method(jb, kill).empty());
      TrainOptions resume;
      resume.resume = true;
      nlohmann::json resumed = run_method(jb, resume);
      INFO(tag);
      CHECK(test::metrics_without_timing(a) == test::metrics_without_timing(b));
      CHECK(resumed["test_accuracy"] == full["test_accuracy"]);
      CHECK(resumed["sparsity"] == full["sparsity"]);
      CHECK(test::same_checkpoint_weights(a, b));  // weights, momentum, masks, the rewind point
      CHECK(test::same_tensors(a + "/model.safetensors", b + "/model.safetensors"));
    }
  }
}

TEST_CASE("rewind_step: beyond round 0 is refused at start-up, naming the key and the steps", "[pruning][rewind_step][errors]") {
  test::TempDir tmp("rewind_step_bad");
  nlohmann::json j = mlp_run(tmp.file("far"), {{"method", "lottery"}, {"rounds", 1}, {"rewind_step", 13}});
  CHECK_THROWS_WITH(run_method(j), Catch::Contains("test.json: /pruning/rewind_step: 13 is beyond round 0, which trains 12 steps") &&
                                       Catch::Contains("expected 0 (the initialisation) to 12"));
  CHECK(!std::filesystem::exists(tmp.file("far") + "/checkpoint.safetensors"));
  nlohmann::json neg = mlp_run(tmp.file("neg"), {{"method", "sap"}, {"rounds", 1}, {"rewind_step", -1}});
  CHECK_THROWS_WITH(run_method(neg), Catch::Contains("/pruning/rewind_step"));
  // Round 0's last step is allowed: rewinding to round 0's end.
  nlohmann::json end = mlp_run(tmp.file("end"), {{"method", "os_sap"}, {"rounds", 1}, {"rewind_step", 12}});
  end["train"]["epochs"] = 2;
  CHECK(run_method(end)["method"] == "os_sap");
}
