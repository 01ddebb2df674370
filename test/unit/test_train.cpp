// End-to-end training through the app's own loop (apps/runner/trainer.cpp) on real Fashion-MNIST.
#include <catch2/catch.hpp>

#include <filesystem>

#include "apps/runner/trainer.h"
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
