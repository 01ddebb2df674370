// End-to-end training through the app's own loop (apps/runner/loop.h, trainer.h) on real Fashion-MNIST,
// and the loop's parts: the classification task with the metrics accumulator, step callbacks.
#include <catch2/catch.hpp>

#include <filesystem>

#include "apps/runner/task.h"
#include "apps/runner/trainer.h"
#include "apps/runner/train_metrics.h"
#include "core/comm/communicator.h"
#include "core/io/atomic_file.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;

using test::as_manifest;
using test::small_run;

TEST_CASE("a run interrupted mid-epoch and resumed ends exactly like an uninterrupted one", "[train][resume]") {
  test::TempDir tmp("resume");
  for (int64_t every : {7, 0}) {  // mid-epoch checkpoints, or only at epoch ends
    std::string a = tmp.file(cat("a", every)), b = tmp.file(cat("b", every));
    nlohmann::json ja = small_run(a), jb = small_run(b);
    ja["train"]["checkpoint_every_steps"] = every;
    jb["train"]["checkpoint_every_steps"] = every;
    nlohmann::json full = train_classifier(as_manifest(ja));

    TrainOptions kill;
    kill.interrupt = [](int64_t step) { return step == 27; };  // epoch 1, batch 7 of 20
    CHECK(train_classifier(as_manifest(jb), kill).empty());
    CHECK_THROWS_WITH(train_classifier(as_manifest(jb)), Catch::Contains("already holds a run") && Catch::Contains("--resume"));
    TrainOptions resume;
    resume.resume = true;
    nlohmann::json resumed = train_classifier(as_manifest(jb), resume);

    INFO("checkpoint_every_steps " << every);
    CHECK(test::metrics_without_timing(a) == test::metrics_without_timing(b));
    REQUIRE(test::metrics_without_timing(b).size() == 2);
    CHECK(resumed["test_accuracy"] == full["test_accuracy"]);
    CHECK(resumed["train_loss"] == full["train_loss"]);
    CHECK(test::same_checkpoint_weights(a, b));
  }
}

TEST_CASE("training the small CNN on Fashion-MNIST reaches an accuracy floor", "[train][e2e]") {
  test::TempDir tmp("e2e");
  nlohmann::json j = small_run(tmp.file("run"));
  j["data"]["train_limit"] = 12000;
  j["data"]["test_limit"] = 0;
  j["model"] = {{"name", "cnn_small"}, {"widths", {16, 32}}, {"hidden", 64}};
  j["optimizer"]["lr"] = 0.1;
  j["train"]["epochs"] = 2;
  nlohmann::json s = train_classifier(as_manifest(j));
  INFO(s.dump());
  CHECK(s["test_accuracy"].get<double>() >= 0.82);  // 12k images, two epochs: measured 0.849
  for (const char* key : {"test_accuracy", "epochs", "seconds", "device"}) CHECK(s.contains(key));
  for (const char* file : {"manifest.json", "metrics.jsonl", "summary.json", "checkpoint.safetensors"})
    CHECK(std::filesystem::exists(tmp.file("run") + "/" + file));
}

TEST_CASE("bad inputs to a run give one clear error each", "[train][errors]") {
  test::TempDir tmp("errors");
  nlohmann::json j = small_run(tmp.file("run"));
  j["data"]["root"] = tmp.file("no-such-folder");
  CHECK_THROWS_WITH(train_classifier(as_manifest(j)),
                    Catch::Contains("no-such-folder") && Catch::Contains("setup.sh"));
  j = small_run(tmp.file("run"));
  j["model"]["widths"] = {8, "x"};
  CHECK_THROWS_WITH(train_classifier(as_manifest(j)), Catch::Contains("test.json: /model/widths/1: expected an integer"));
  j = small_run(tmp.file("run"));
  j["device"] = "gpu";
  CHECK_THROWS_WITH(train_classifier(as_manifest(j)), Catch::Contains("/device") && Catch::Contains("\"gpu\""));

  // A resumed run refuses a corrupt checkpoint, naming it.
  j = small_run(tmp.file("corrupt"));
  j["train"]["epochs"] = 1;
  j["data"]["train_limit"] = 200;
  train_classifier(as_manifest(j));
  std::string ck = tmp.file("corrupt") + "/checkpoint.safetensors";
  std::string bytes = read_file(ck);
  write_file_atomic(ck, bytes.substr(0, bytes.size() / 2));
  TrainOptions resume;
  resume.resume = true;
  CHECK_THROWS_WITH(train_classifier(as_manifest(j), resume), Catch::Contains(ck));
  CHECK_THROWS_WITH(train_classifier(as_manifest(small_run(tmp.file("fresh"))), resume),
                    Catch::Contains("no checkpoint to resume from"));
}

TEST_CASE("classification folds a batch's loss and correct count into the job's totals", "[train][metrics]") {
  auto single = comm::make_single_communicator();
  Classification task(ChannelAffine{}, 0.0f, Device::cpu());
  MetricsAccumulator acc(Device::cpu());
  Batch batch;
  batch.labels = Tensor::from_vector(Shape{3}, std::vector<int32_t>{0, 0, 1});
  TaskStep step{Tensor::from_vector(Shape{3, 2}, std::vector<float>{2, 0, 0, 3, 1, 0}), Tensor::scalar(0.5f)};
  task.accumulate(step, batch, acc);  // predictions 0, 1, 0: the first alone is right
  MetricTotals totals{1.0, 4, 10};    // earlier folds
  MetricTotals view = acc.peek(totals);
  CHECK(view.loss_sum == 2.5);
  CHECK(view.correct == 5);
  CHECK(view.seen == 13);
  acc.fold(totals, *single);
  CHECK(totals.loss_sum == 2.5);
  CHECK(totals.correct == 5);
  CHECK(totals.seen == 13);
  MetricTotals again = acc.peek(totals);  // the fold restarted the device sums
  CHECK(again.loss_sum == 2.5);
  CHECK(again.seen == 13);
  nlohmann::json line;
  task.report(totals, line);
  CHECK(line["train_loss"].get<double>() == 2.5 / 13.0);
  CHECK(line["train_accuracy"].get<double>() == 5.0 / 13.0);
  CHECK(task.describe(totals, "  ") == "loss 0.1923  acc 0.3846");
}

TEST_CASE("a step callback that stops mid-epoch leaves a checkpoint from which the run ends as an uninterrupted one",
          "[train][resume][callbacks]") {
  test::TempDir tmp("callback-stop");
  std::string a = tmp.file("a"), b = tmp.file("b");
  // The metric sums are folded at checkpoints: both runs fold at steps 7 and 14, so their f32 sums
  // add in the same order.
  auto run = [](const std::string& out) {
    nlohmann::json j = small_run(out);
    j["train"]["checkpoint_every_steps"] = 7;
    return as_manifest(j);
  };
  nlohmann::json full = train_classifier(run(a));
  TrainOptions stop;
  int64_t saw = 0;
  stop.step_callbacks.push_back([&saw](Loop& loop, const StepEvent& e) {
    ++saw;
    CHECK(e.images == loop.at().batch * 100);  // this session's examples of the epoch (batch 100)
    return loop.at().step == 14 ? StepAction::stop : StepAction::go_on;
  });
  CHECK(train_classifier(run(b), stop).empty());
  CHECK(saw == 14);
  TrainOptions resume;
  resume.resume = true;
  nlohmann::json resumed = train_classifier(run(b), resume);
  CHECK(test::metrics_without_timing(a) == test::metrics_without_timing(b));
  CHECK(resumed["train_loss"] == full["train_loss"]);
  CHECK(test::same_checkpoint_weights(a, b));
}
