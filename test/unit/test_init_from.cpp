// The manifest's top-level init_from (apps/runner/init_weights.h): a PyTorch-written file
// reproduces PyTorch's logits, strict and non-strict loading, a checkpoint's "model." prefix, one
// clear error per bad file, a run that starts from a trained model's weights, and a resume that
// does not read the file again.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "apps/runner/init_weights.h"
#include "apps/runner/trainer.h"
#include "core/autograd/grad_mode.h"
#include "core/io/safetensors.h"
#include "core/random/generator.h"
#include "models/models.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;

namespace {

const std::string kGolden = TRIM_SOURCE_DIR "/test/golden/init_from_cnn_small.safetensors";
const std::string kLogits = TRIM_SOURCE_DIR "/test/golden/init_from_cnn_small_logits.safetensors";

std::shared_ptr<Module> cnn(int64_t classes = 10) {
  default_generator().set_state(7, 0);
  nlohmann::json spec = {{"name", "cnn_small"}, {"widths", {4, 8}}, {"hidden", 16}, {"num_classes", classes}};
  Config c(spec, "test", "/model");
  return build_model(c);
}

std::vector<float> values(const Module& m, const std::string& name) {
  for (const auto& [n, t] : m.state_dict())
    if (n == name) return t.to_vector<float>();
  FAIL("no tensor " << name);
  return {};
}

// The golden file with its tensors changed by `edit` (name, tensor) -> kept?, plus `extra`.
std::string edited(const test::TempDir& tmp, const std::string& file,
                   const std::function<bool(std::string&, Tensor&)>& edit, std::vector<NamedTensor> extra = {}) {
  SafetensorsFile f = load_safetensors(kGolden);
  std::vector<NamedTensor> out;
  for (NamedTensor& t : f.tensors)
    if (edit(t.name, t.tensor)) out.push_back(t);
  for (NamedTensor& t : extra) out.push_back(t);
  save_safetensors(tmp.file(file), out, {});
  return tmp.file(file);
}

}  // namespace

TEST_CASE("init_from: a PyTorch-written state dict reproduces PyTorch's logits", "[init_from][golden]") {
  auto model = cnn();
  InitReport r = load_init_weights(*model, kGolden, true, "test.json: /init_from");
  CHECK(r.loaded == int64_t(model->state_dict().size()));
  model->eval();
  SafetensorsFile io = load_safetensors(kLogits);
  NoGradGuard no_grad;
  std::vector<float> got = (*model)(*io.find("input")).to_vector<float>(), want = io.find("logits")->to_vector<float>();
  REQUIRE(got.size() == want.size());
  double scale = 0.0, err = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    scale = std::max(scale, std::abs(double(want[i])));
    err = std::max(err, std::abs(double(got[i]) - double(want[i])));
  }
  CHECK(scale > 0.1);
  CHECK(err <= 1e-5 * scale);
  // The seeded initialisation would not: the file was really read.
  auto fresh = cnn();
  fresh->eval();
  std::vector<float> other = (*fresh)(*io.find("input")).to_vector<float>();
  CHECK(std::abs(double(other[0]) - double(want[0])) > 1e-3);
}

TEST_CASE("init_from: strict loading names the file and the first missing, unexpected or mismatched tensor",
          "[init_from][errors]") {
  test::TempDir tmp("init_from_errors");
  const std::string where = "run.json: /init_from";
  auto load = [&](const std::string& path, int64_t classes = 10) { load_init_weights(*cnn(classes), path, true, where); };
  CHECK_THROWS_WITH(load(tmp.file("absent.safetensors")), Catch::Contains(where) && Catch::Contains("absent.safetensors"));
  std::ofstream(tmp.file("text.safetensors")) << "not a safetensors file\n";
  CHECK_THROWS_WITH(load(tmp.file("text.safetensors")), Catch::StartsWith(where + ": ") && Catch::Contains("text.safetensors"));
  std::string missing = edited(tmp, "missing.safetensors", [](std::string& n, Tensor&) { return n != "5.running_var"; });
  CHECK_THROWS_WITH(load(missing), Catch::Contains(where + " (" + missing + "): missing tensor '5.running_var'") &&
                                       Catch::Contains("[8]"));
  std::string extra = edited(tmp, "extra.safetensors", [](std::string&, Tensor&) { return true; },
                             {{"5.num_batches_tracked", Tensor::zeros(Shape{1}, DType::f32, Device::cpu())}});
  CHECK_THROWS_WITH(load(extra), Catch::Contains("unexpected tensor '5.num_batches_tracked'"));
  // Another classifier: both shapes named.
  CHECK_THROWS_WITH(load(kGolden, 5), Catch::Contains("tensor '11.weight' is [10, 16] f32 in the file, the model's is [5, 16] f32"));
  // A NaN is no trained weight.
  std::string nan = edited(tmp, "nan.safetensors", [](std::string& n, Tensor& t) {
    if (n == "9.bias") t = Tensor::full(t.shape(), NAN, DType::f32, Device::cpu());
    return true;
  });
  CHECK_THROWS_WITH(load(nan), Catch::Contains("9.bias"));
  // A refused file changes nothing.
  auto m = cnn();
  std::vector<float> before = values(*m, "0.weight");
  CHECK_THROWS(load_init_weights(*m, extra, true, where));
  CHECK(values(*m, "0.weight") == before);
}

TEST_CASE("init_from: init_strict false loads a network with another classifier", "[init_from]") {
  test::TempDir tmp("init_from_loose");
  auto m = cnn(5);
  std::vector<float> head = values(*m, "11.weight");
  std::string extra = edited(tmp, "extra.safetensors", [](std::string& n, Tensor&) { return n != "1.running_mean"; },
                             {{"fc.weight", Tensor::zeros(Shape{2}, DType::f32, Device::cpu())}});
  std::vector<float> mean = values(*m, "1.running_mean");
  InitReport r = load_init_weights(*m, extra, false, "run.json: /init_from");
  CHECK(r.skipped.size() == 2);  // 11.weight, 11.bias
  CHECK(r.missing == std::vector<std::string>{"1.running_mean"});
  CHECK(r.ignored == std::vector<std::string>{"fc.weight"});
  CHECK(values(*m, "11.weight") == head);           // the model's own classifier
  CHECK(values(*m, "1.running_mean") == mean);      // kept its initialisation
  SafetensorsFile f = load_safetensors(kGolden);
  CHECK(values(*m, "4.weight") == f.find("4.weight")->to_vector<float>());
  CHECK(values(*m, "9.weight") == f.find("9.weight")->to_vector<float>());
}

TEST_CASE("init_from: a checkpoint's model. prefix is accepted, its optimizer and method state left out", "[init_from]") {
  test::TempDir tmp("init_from_prefix");
  std::string prefixed = edited(tmp, "ck.safetensors", [](std::string& n, Tensor&) { n = "model." + n; return true; },
                                {{"optim.momentum", Tensor::zeros(Shape{3}, DType::f32, Device::cpu())},
                                 {"method.mask", Tensor::zeros(Shape{3}, DType::f32, Device::cpu())}});
  auto m = cnn();
  load_init_weights(*m, prefixed, true, "run.json: /init_from");
  CHECK(values(*m, "5.running_var") == load_safetensors(kGolden).find("5.running_var")->to_vector<float>());
}

TEST_CASE("init_from: a run starts from a trained model, and a resume does not read the file again", "[init_from][train]") {
  test::TempDir tmp("init_from_run");
  auto mlp_run = [&](const std::string& out) {
    nlohmann::json j = test::small_run(tmp.file(out));
    j["model"] = {{"name", "mlp"}, {"hidden", {32}}};
    j["train"]["epochs"] = 1;
    return j;
  };
  nlohmann::json src = train_classifier(test::as_manifest(mlp_run("source")));
  // At lr 1e-9 one epoch leaves the weights where they were: the source's test accuracy.
  for (const char* file : {"model.safetensors", "checkpoint.safetensors"}) {
    INFO(file);
    nlohmann::json j = mlp_run(std::string("again_") + file);
    j["init_from"] = tmp.file("source") + "/" + file;
    j["optimizer"]["lr"] = 1e-9;
    nlohmann::json s = train_classifier(test::as_manifest(j));
    CHECK(s["test_accuracy"].get<double>() == Approx(src["test_accuracy"].get<double>()).margin(0.001));
  }
  // Resume: the file is gone by then; the checkpoint holds every weight, and the run is the same.
  std::filesystem::copy_file(tmp.file("source") + "/model.safetensors", tmp.file("init.safetensors"));
  nlohmann::json a = mlp_run("full"), b = mlp_run("cut");
  for (nlohmann::json* j : {&a, &b}) {
    (*j)["init_from"] = tmp.file("init.safetensors");
    (*j)["train"]["epochs"] = 2;
    (*j)["train"]["checkpoint_every_steps"] = 5;
  }
  nlohmann::json full = train_classifier(test::as_manifest(a));
  TrainOptions kill;
  kill.interrupt = [](int64_t step) { return step == 27; };
  CHECK(train_classifier(test::as_manifest(b), kill).empty());
  std::filesystem::remove(tmp.file("init.safetensors"));
  TrainOptions resume;
  resume.resume = true;
  nlohmann::json resumed = train_classifier(test::as_manifest(b), resume);
  CHECK(resumed["test_accuracy"] == full["test_accuracy"]);
  CHECK(test::metrics_without_timing(tmp.file("full")) == test::metrics_without_timing(tmp.file("cut")));
  CHECK(test::same_checkpoint_weights(tmp.file("full"), tmp.file("cut")));
  // A fresh run without the file: one error naming the key and the file.
  nlohmann::json c = mlp_run("gone");
  c["init_from"] = tmp.file("init.safetensors");
  CHECK_THROWS_WITH(train_classifier(test::as_manifest(c)), Catch::Contains("test.json: /init_from: ") &&
                                                                Catch::Contains("init.safetensors"));
  nlohmann::json d = mlp_run("loose");
  d["init_strict"] = false;
  CHECK_THROWS_WITH(train_classifier(test::as_manifest(d)), Catch::Contains("test.json: /init_strict: applies to init_from"));
}
