// End-to-end training through the app's own loop (apps/runner/trainer.cpp) on real Fashion-MNIST.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "apps/runner/trainer.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "test/support/fixtures.h"

using namespace trim;

namespace {

nlohmann::json small_run(const std::string& output) {
  return {{"name", "test"},
          {"device", "cpu"},
          {"output", output},
          {"seed", 3},
          {"threads", 2},
          {"data", {{"batch_size", 100}, {"eval_batch_size", 250}, {"train_limit", 2000}, {"test_limit", 500}}},
          {"model", {{"name", "cnn_small"}, {"widths", {8, 16}}, {"hidden", 32}, {"dropout", 0.2}}},
          {"optimizer", {{"lr", 0.05}, {"momentum", 0.9}, {"nesterov", true}, {"weight_decay", 5e-4}}},
          {"schedule", {{"kind", "cosine"}, {"per_iteration", true}}},
          {"train", {{"epochs", 2}, {"log_interval_seconds", 1000}}}};
}

Manifest manifest(const nlohmann::json& j) { return Manifest{j, "test.json", "test.json"}; }

std::vector<nlohmann::json> metrics(const std::string& dir) {
  std::ifstream in(dir + "/metrics.jsonl");
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    for (const char* timing : {"seconds", "elapsed_seconds", "images_per_second", "peak_memory_bytes"}) j.erase(timing);
    out.push_back(j);
  }
  return out;
}

void require_same_weights(const std::string& a, const std::string& b) {
  SafetensorsFile fa = load_safetensors(a + "/checkpoint.safetensors"), fb = load_safetensors(b + "/checkpoint.safetensors");
  REQUIRE(fa.tensors.size() == fb.tensors.size());
  for (size_t i = 0; i < fa.tensors.size(); ++i) {
    INFO(fa.tensors[i].name);
    REQUIRE(fa.tensors[i].name == fb.tensors[i].name);
    if (fa.tensors[i].tensor.dtype() == DType::f32)
      REQUIRE(fa.tensors[i].tensor.to_vector<float>() == fb.tensors[i].tensor.to_vector<float>());
  }
}

}  // namespace

TEST_CASE("a run interrupted mid-epoch and resumed ends exactly like an uninterrupted one", "[train][resume]") {
  test::TempDir tmp("resume");
  for (int64_t every : {7, 0}) {  // mid-epoch checkpoints, or only at epoch ends
    std::string a = tmp.file("a" + std::to_string(every)), b = tmp.file("b" + std::to_string(every));
    nlohmann::json ja = small_run(a), jb = small_run(b);
    ja["train"]["checkpoint_every_steps"] = every;
    jb["train"]["checkpoint_every_steps"] = every;
    nlohmann::json full = train_classifier(manifest(ja));

    TrainOptions kill;
    kill.interrupt = [](int64_t step) { return step == 27; };  // epoch 1, batch 7 of 20
    CHECK(train_classifier(manifest(jb), kill).empty());
    CHECK_THROWS_WITH(train_classifier(manifest(jb)), Catch::Contains("already holds a run") && Catch::Contains("--resume"));
    TrainOptions resume;
    resume.resume = true;
    nlohmann::json resumed = train_classifier(manifest(jb), resume);

    INFO("checkpoint_every_steps " << every);
    CHECK(metrics(a) == metrics(b));
    REQUIRE(metrics(b).size() == 2);
    CHECK(resumed["test_accuracy"] == full["test_accuracy"]);
    CHECK(resumed["train_loss"] == full["train_loss"]);
    require_same_weights(a, b);
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
  nlohmann::json s = train_classifier(manifest(j));
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
  CHECK_THROWS_WITH(train_classifier(manifest(j)),
                    Catch::Contains("no-such-folder") && Catch::Contains("setup.sh"));
  j = small_run(tmp.file("run"));
  j["model"]["widths"] = {8, "x"};
  CHECK_THROWS_WITH(train_classifier(manifest(j)), Catch::Contains("test.json: /model/widths/1: expected an integer"));
  j = small_run(tmp.file("run"));
  j["device"] = "gpu";
  CHECK_THROWS_WITH(train_classifier(manifest(j)), Catch::Contains("/device") && Catch::Contains("\"gpu\""));

  // A resumed run refuses a corrupt checkpoint, naming it.
  j = small_run(tmp.file("corrupt"));
  j["train"]["epochs"] = 1;
  j["data"]["train_limit"] = 200;
  train_classifier(manifest(j));
  std::string ck = tmp.file("corrupt") + "/checkpoint.safetensors";
  std::string bytes = read_file(ck);
  write_file_atomic(ck, bytes.substr(0, bytes.size() / 2));
  TrainOptions resume;
  resume.resume = true;
  CHECK_THROWS_WITH(train_classifier(manifest(j), resume), Catch::Contains(ck));
  CHECK_THROWS_WITH(train_classifier(manifest(small_run(tmp.file("fresh"))), resume),
                    Catch::Contains("no checkpoint to resume from"));
}
