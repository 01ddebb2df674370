// A short real training run on the GPU through trim-train's loop reaches the same accuracy floor as
// on the CPU, and lands close to the CPU run.
#include <catch2/catch.hpp>

#include "apps/runner/trainer.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;

TEST_CASE("training on CUDA reaches the CPU run's accuracy", "[cuda][train]") {
  test::TempDir tmp("train-cuda");
  nlohmann::json j = {{"name", "cuda"},
                      {"output", tmp.file("gpu")},
                      {"seed", 3},
                      {"threads", 2},
                      {"cuda", {{"tf32_conv", false}}},
                      {"data", {{"batch_size", 100}, {"eval_batch_size", 500}, {"train_limit", 12000}}},
                      {"model", {{"name", "cnn_small"}, {"widths", {16, 32}}, {"hidden", 64}}},
                      {"optimizer", {{"lr", 0.1}, {"momentum", 0.9}, {"nesterov", true}, {"weight_decay", 5e-4}}},
                      {"schedule", {{"kind", "cosine"}, {"per_iteration", true}}},
                      {"train", {{"epochs", 2}, {"log_interval_seconds", 1000}}}};
  j["device"] = "cuda";
  nlohmann::json gpu = train_classifier(Manifest{j, "cuda.json", "cuda.json"});
  j["device"] = "cpu";
  j["output"] = tmp.file("cpu");
  nlohmann::json cpu = train_classifier(Manifest{j, "cpu.json", "cpu.json"});
  INFO("gpu " << gpu.dump() << "\ncpu " << cpu.dump());
  CHECK(gpu["device"] == "cuda:0");
  CHECK(gpu["test_accuracy"].get<double>() >= 0.82);
  CHECK(gpu["test_accuracy"].get<double>() == Approx(cpu["test_accuracy"].get<double>()).margin(0.02));
  CHECK(gpu["train_loss"].get<double>() == Approx(cpu["train_loss"].get<double>()).epsilon(0.05));
}

TEST_CASE("a CUDA run interrupted mid-epoch and resumed ends exactly like an uninterrupted one", "[cuda][resume]") {
  test::TempDir tmp("resume-cuda");
  nlohmann::json a = test::small_run(tmp.file("a"), "cuda"), b = test::small_run(tmp.file("b"), "cuda");
  a["train"]["checkpoint_every_steps"] = 7;
  b["train"]["checkpoint_every_steps"] = 7;
  train_classifier(test::as_manifest(a));
  TrainOptions kill;
  kill.interrupt = [](int64_t step) { return step == 27; };
  train_classifier(test::as_manifest(b), kill);
  TrainOptions resume;
  resume.resume = true;
  train_classifier(test::as_manifest(b), resume);
  CHECK(test::metrics_without_timing(tmp.file("a")) == test::metrics_without_timing(tmp.file("b")));
  CHECK(test::same_checkpoint_weights(tmp.file("a"), tmp.file("b")));
}
