// The training loop's method hooks (pruning/training_method.h) end to end: rounds with a rewind and
// masks, method state in checkpoints, resume inside a round, and a diverging run.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "apps/runner/trainer.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/ops/ops.h"
#include "pruning/mask_rule.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;

using test::as_manifest;
using test::small_run;

namespace {

// A lottery-ticket-like method: each round after the first prunes 30% more of every weight
// tensor's remaining entries by magnitude, rewinds to the initial weights and trains masked.
class RewindPrune final : public TrainingMethod {
 public:
  std::string name() const override { return "test_rewind"; }
  int64_t rounds() const override { return 3; }
  void attach(Module&, ParamStore& store) override {
    store_ = &store;
    w_init_ = store.params().clone();
    mask_ = store.state("mask", 1.0f);
  }
  void begin_round(const StepInfo& at, Module&, ParamStore& store) override {
    if (at.round == 0) return;
    for (size_t i = 0; i < store.size(); ++i) {
      if (store.slot(i).param.tensor.ndim() < 2) continue;  // weights only
      Tensor m = store.view(mask_, i);
      std::vector<float> w = store.slot(i).param.tensor.to_vector<float>(), mv = m.to_vector<float>();
      std::vector<std::pair<float, size_t>> alive;
      for (size_t j = 0; j < w.size(); ++j)
        if (mv[j] != 0.0f) alive.emplace_back(std::fabs(w[j]), j);
      std::stable_sort(alive.begin(), alive.end(), [](auto& a, auto& b) { return a.first < b.first; });
      for (size_t j = 0; j < alive.size() * 3 / 10; ++j) mv[alive[j].second] = 0.0f;
      m.copy_(Tensor::from_vector(m.shape(), mv));
    }
    Tensor rewound = mul(w_init_, mask_);
    Tensor params = store.params();
    params.copy_(rewound);
    ++pruned_rounds_;
  }
  std::unique_ptr<SgdBase> make_optimizer(std::shared_ptr<ParamStore> store, const SgdOptions& o) override {
    auto opt = std::make_unique<Sgd<MaskRule>>(store, o);
    for (size_t i = 0; i < store->size(); ++i)
      opt->set_rule_params(i, {mask_.data<float>() + store->slot(i).offset});
    return opt;
  }
  void end_epoch(const StepInfo&, Module&, ParamStore& store, nlohmann::json& metrics) override {
    auto w = store.params().to_vector<float>();
    int64_t zeros = 0, n = 0;
    for (size_t i = 0; i < store.size(); ++i) {
      if (store.slot(i).param.tensor.ndim() < 2) continue;
      for (int64_t j = 0; j < store.slot(i).numel; ++j) zeros += w[size_t(store.slot(i).offset + j)] == 0.0f, ++n;
    }
    metrics["sparsity"] = double(zeros) / double(n);
  }
  bool finalize(Module&, ParamStore&, nlohmann::json& summary) override {
    summary["pruned_rounds"] = pruned_rounds_;
    return false;
  }
  std::vector<std::pair<std::string, Tensor>> state_tensors() const override {
    return {{"w_init", w_init_}, {"mask", mask_}};
  }
  nlohmann::json state_json() const override { return {{"pruned_rounds", pruned_rounds_}}; }
  void load_state_json(const nlohmann::json& j) override { pruned_rounds_ = j.at("pruned_rounds").get<int>(); }

 private:
  ParamStore* store_ = nullptr;
  Tensor w_init_, mask_;
  int pruned_rounds_ = 0;
};

// Adds a loss term whose gradient is NaN from step `at` on.
class PoisonAt final : public TrainingMethod {
 public:
  explicit PoisonAt(int64_t at) : at_(at) {}
  std::string name() const override { return "test_poison"; }
  void attach(Module& model, ParamStore&) override { w_ = model.named_parameters().front().tensor; }
  Tensor extra_loss(const StepInfo& s) override { return s.step >= at_ ? scale(sum(w_), NAN) : Tensor(); }

 private:
  int64_t at_;
  Tensor w_;
};

nlohmann::json rounds_run(const std::string& out) {
  nlohmann::json j = small_run(out);
  j["data"]["train_limit"] = 600;
  j["data"]["test_limit"] = 200;
  j["train"]["epochs"] = 2;
  return j;
}

}  // namespace

TEST_CASE("a method with rounds, masks and state resumes inside a round exactly", "[train][resume][method]") {
  test::TempDir tmp("rounds");
  for (int64_t kill_at : {3, 21, 28}) {  // round 0 (mid-epoch), round 1 epoch 1, round 2 epoch 0 (6 steps per epoch)
    std::string a = tmp.file(cat("a", kill_at)), b = tmp.file(cat("b", kill_at));
    nlohmann::json ja = rounds_run(a), jb = rounds_run(b);
    ja["train"]["checkpoint_every_steps"] = 2;
    jb["train"]["checkpoint_every_steps"] = 2;
    RewindPrune m1;
    nlohmann::json full = train(as_manifest(ja), m1);

    RewindPrune m2;
    TrainOptions kill;
    kill.interrupt = [kill_at](int64_t step) { return step == kill_at; };
    CHECK(train(as_manifest(jb), m2, kill).empty());
    RewindPrune m3;  // a fresh process: nothing carried over but the run folder
    TrainOptions resume;
    resume.resume = true;
    nlohmann::json resumed = train(as_manifest(jb), m3, resume);

    INFO("killed at step " << kill_at);
    auto metrics = test::metrics_without_timing(b);
    CHECK(test::metrics_without_timing(a) == metrics);
    REQUIRE(metrics.size() == 6);  // 3 rounds x 2 epochs
    CHECK(metrics[5]["round"] == 2);
    CHECK(metrics[1]["sparsity"].get<double>() < 0.05);
    CHECK(metrics[5]["sparsity"].get<double>() > 0.45);  // 1 - 0.7^2 of the weights
    CHECK(resumed["test_accuracy"] == full["test_accuracy"]);
    CHECK(resumed["pruned_rounds"] == 2);
    CHECK(resumed["method"] == "test_rewind");
    CHECK(test::same_checkpoint_weights(a, b));
    CHECK(std::filesystem::exists(b + "/model.safetensors"));
  }
}

TEST_CASE("a checkpoint of another method is refused before anything changes", "[train][resume][method]") {
  test::TempDir tmp("other-method");
  nlohmann::json j = rounds_run(tmp.file("run"));
  j["train"]["epochs"] = 1;
  RewindPrune m;
  train(as_manifest(j), m);
  std::string metrics_before = read_file(tmp.file("run") + "/metrics.jsonl");
  TrainOptions resume;
  resume.resume = true;
  CHECK_THROWS_WITH(train_classifier(as_manifest(j), resume),
                    Catch::Contains("written by a 'test_rewind' run, this run is 'dense'"));
  CHECK(read_file(tmp.file("run") + "/metrics.jsonl") == metrics_before);
}

TEST_CASE("a non-finite gradient stops the run, naming the step, and keeps the last good checkpoint",
          "[train][method][nonfinite]") {
  test::TempDir tmp("diverge");
  nlohmann::json j = small_run(tmp.file("run"));
  j["train"]["checkpoint_every_steps"] = 5;
  PoisonAt poison(12);  // step 13 (1-based) is the first with a NaN gradient
  CHECK_THROWS_WITH(train(as_manifest(j), poison),
                    Catch::Contains("training diverged") && Catch::Contains("non-finite gradient at epoch 1, step 13") &&
                        Catch::Contains("checkpoint.safetensors is kept"));
  SafetensorsFile ck = load_safetensors(tmp.file("run") + "/checkpoint.safetensors");
  CHECK(ck.metadata.at("trim.step") == "10");  // the last checkpoint before the NaN
  for (const NamedTensor& t : ck.tensors)
    if (t.tensor.dtype() == DType::f32)
      for (float x : t.tensor.to_vector<float>()) REQUIRE(std::isfinite(x));
  CHECK_FALSE(std::filesystem::exists(tmp.file("run") + "/summary.json"));
}

namespace {

// Trains at a learning rate of its own: zero, so no step moves a weight (the lr hook's effect is
// visible); records the optimizer's lr and the schedule's at every step.
class FrozenLr final : public TrainingMethod {
 public:
  std::string name() const override { return "test_frozen_lr"; }
  float lr(const StepInfo&, float) const override { return 0.0f; }
  void attach(Module&, ParamStore& store) override { initial_ = store.params().clone(); }
  void before_step(const StepInfo& at, SgdBase& optimizer) override {
    optimizer_lrs.push_back(optimizer.lr());
    scheduled_lrs.push_back(at.lr);
  }
  bool finalize(Module&, ParamStore& store, nlohmann::json&) override {
    weights_unchanged = store.params().to_vector<float>() == initial_.to_vector<float>();
    return false;
  }
  std::vector<float> optimizer_lrs, scheduled_lrs;
  bool weights_unchanged = false;

 private:
  Tensor initial_;
};

}  // namespace

TEST_CASE("a method's lr hook is the step's learning rate, and metrics keep the schedule's", "[train][method][lr]") {
  test::TempDir tmp("lr-hook");
  nlohmann::json j = rounds_run(tmp.file("run"));
  j["train"]["epochs"] = 1;
  j["optimizer"]["lr"] = 0.05;
  FrozenLr frozen;
  train(as_manifest(j), frozen);
  REQUIRE(frozen.optimizer_lrs.size() == 6);
  for (size_t k = 0; k < frozen.optimizer_lrs.size(); ++k) {
    CHECK(frozen.optimizer_lrs[k] == 0.0f);
    CHECK(frozen.scheduled_lrs[k] > 0.0f);
  }
  auto metrics = test::metrics_without_timing(tmp.file("run"));
  REQUIRE(metrics.size() == 1);
  CHECK(metrics[0]["lr"].get<double>() > 0.0);
  CHECK(frozen.weights_unchanged);  // at lr 0 no step moves a weight
}
