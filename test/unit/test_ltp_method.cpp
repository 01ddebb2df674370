// The "ltp" method (pruning/ltp.h) end to end on a small MLP: phases A and B, the trail files and
// their accuracies, the deployed sparsity, the opt-in magnitude top-up, the logged fraction of
// clamped τ gradients, λ moving the sparsity, a run resumed mid-trail and in phase B bit for bit,
// and settings refused by JSON path.
#include <catch2/catch.hpp>

#include <filesystem>

#include "apps/runner/trainer.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "pruning/ltp.h"
#include "pruning/registry.h"
#include "pruning/select.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;
using test::as_manifest;

namespace {

nlohmann::json ltp_settings() {
  return {{"method", "ltp"}, {"t0", 2.0},          {"lambda", 1.0},   {"lr_tau", 5e-8},
          {"clip_tau", 20.0}, {"finetune_epochs", 1}, {"trail", {0.1, 0.2, 0.999}}, {"target", 0.5}};
}

nlohmann::json ltp_run(const std::string& out) {
  nlohmann::json j = test::small_run(out);
  j["model"] = {{"name", "mlp"}, {"in_features", 784}, {"hidden", {32}}, {"num_classes", 10}};
  j["data"]["train_limit"] = 1000;
  j["data"]["test_limit"] = 300;
  j["train"]["epochs"] = 3;  // phase A; phase B: finetune_epochs; 10 steps per epoch
  j["pruning"] = ltp_settings();
  return j;
}

std::unique_ptr<TrainingMethod> make(const nlohmann::json& pruning) {
  Config c(pruning, "test.json", "/pruning");
  auto m = make_pruning_method(c, {"ltp"});
  c.finish();
  return m;
}

// Fraction of exact zeros over the weights of a saved model (the prunable set: 2-d tensors).
double file_sparsity(const std::string& path) {
  int64_t zeros = 0, n = 0;
  for (const NamedTensor& t : load_safetensors(path).tensors)
    if (t.tensor.ndim() == 2)
      for (float x : t.tensor.to_vector<float>()) zeros += x == 0.0f, ++n;
  return double(zeros) / double(n);
}

}  // namespace

TEST_CASE("ltp settings without a default are required, and bad ones are refused by JSON path", "[pruning][ltp][ltp_method]") {
  for (const char* key : {"t0", "lambda", "lr_tau", "finetune_epochs"}) {
    nlohmann::json p = ltp_settings();
    p.erase(key);
    CHECK_THROWS_WITH(make(p), Catch::Contains(std::string("test.json: /pruning/") + key) && Catch::Contains("required"));
  }
  auto bad = [](const char* key, nlohmann::json v, const std::string& where) {
    nlohmann::json p = ltp_settings();
    p[key] = v;
    CHECK_THROWS_WITH(make(p), Catch::Contains("test.json: /pruning/" + where));
  };
  bad("t0", 0.0, "t0");
  bad("lambda", -1.0, "lambda");
  bad("lr_tau", 0.0, "lr_tau");
  bad("clip_tau", -1.0, "clip_tau");
  bad("finetune_epochs", 0, "finetune_epochs");
  bad("trail", {0.5, 1.5}, "trail/1");
  bad("trail", {0.5, 0.5}, "trail/1");
  bad("trail", 0.5, "trail");
  bad("target", 1.0, "target");
  bad("top_up", 1, "top_up");
  bad("top_up", "yes", "top_up");
  nlohmann::json no_target = ltp_settings();
  no_target.erase("target");
  no_target["top_up"] = true;
  CHECK_THROWS_WITH(make(no_target), Catch::Contains("test.json: /pruning/top_up") && Catch::Contains("target"));
  no_target["top_up"] = false;
  CHECK_NOTHROW(make(no_target));
  nlohmann::json p = ltp_settings();
  p["temperature"] = 1.0;  // strict object: unknown keys are refused
  CHECK_THROWS_WITH(make(p), Catch::Contains("temperature"));
  CHECK(LearnedThreshold::trail_file(0.9) == "sparsity_90.safetensors");
  CHECK(LearnedThreshold::trail_file(0.985) == "sparsity_98.5.safetensors");
}

TEST_CASE("ltp end to end: thresholds learn, the trail is written, phase B tops up to the target when asked", "[pruning][ltp][ltp_method]") {
  test::TempDir tmp("ltp-e2e");
  std::string out = tmp.file("run");
  nlohmann::json j = ltp_run(out);
  j["pruning"]["top_up"] = true;
  auto method = make(j["pruning"]);
  nlohmann::json s = train(as_manifest(j), *method);

  auto lines = test::metrics_without_timing(out);
  REQUIRE(lines.size() == 4);  // 3 epochs of phase A, 1 of phase B
  double prev = -1.0;
  for (int e = 0; e < 3; ++e) {
    const nlohmann::json& l = lines[size_t(e)];
    INFO("epoch " << e);
    REQUIRE(l.contains("thresholds"));
    REQUIRE(l["thresholds"].size() == 2);
    // The L0 term pushes the hidden layer's τ up (the classifier's may go either way: its
    // cross-entropy gradient is stronger).
    CHECK(l["thresholds"]["1.weight"].get<double>() > (e == 0 ? 0.0 : lines[size_t(e - 1)]["thresholds"]["1.weight"].get<double>()));
    CHECK(l["transition_band"].get<double>() > 0.0);
    CHECK(l["transition_band"].get<double>() <= 1.0);
    CHECK(l["hard_test_accuracy"].get<double>() > 0.1);
    CHECK(l["sparsity"].get<double>() > prev);  // the hard rule prunes more every epoch
    prev = l["sparsity"].get<double>();
  }
  CHECK(prev > 0.2);
  CHECK_FALSE(lines[3].contains("thresholds"));

  // The trail: each listed target reached once, with its file (hard-masked) and accuracy.
  const nlohmann::json& trail = s["trail"];
  REQUIRE(trail.size() == 2);  // 0.999 is never reached
  for (const nlohmann::json& p : trail) {
    std::string file = out + "/" + p["file"].get<std::string>();
    INFO(file);
    REQUIRE(std::filesystem::exists(file));
    CHECK(file_sparsity(file) == Approx(p["sparsity"].get<double>()).margin(1e-9));
    CHECK(p["sparsity"].get<double>() >= p["target"].get<double>());
    int64_t epoch = p["epoch"].get<int64_t>();
    CHECK(p["test_accuracy"] == lines[size_t(epoch)]["hard_test_accuracy"]);
    if (epoch > 0) CHECK(lines[size_t(epoch - 1)]["sparsity"].get<double>() < p["target"].get<double>());  // first time
  }
  CHECK(std::filesystem::exists(out + "/trail/sparsity_10.safetensors"));
  CHECK_FALSE(std::filesystem::exists(out + "/trail/sparsity_99.9.safetensors"));

  // Phase B: the hard mask topped up to the target exactly, counted from model.safetensors.
  const int64_t n = s["prunable_parameters"].get<int64_t>();
  CHECK(s["pruned_parameters"].get<int64_t>() == count_for_sparsity(0.5, n));
  CHECK(file_sparsity(out + "/model.safetensors") == Approx(double(count_for_sparsity(0.5, n)) / double(n)).margin(1e-12));
  CHECK(s["ltp_sparsity"].get<double>() == Approx(prev).margin(1e-12));  // phase A's last hard mask
  CHECK(s["top_up_pruned"].get<int64_t>() == count_for_sparsity(0.5, n) - int64_t(std::llround(prev * double(n))));
  CHECK(s["top_up_pruned"].get<int64_t>() > 0);
  CHECK(s["top_up"] == true);
  CHECK(s["test_accuracy"].get<double>() > 0.5);
}

TEST_CASE("ltp logs the fraction of clamped τ gradients, prunes no more than its thresholds unless told, and λ moves the sparsity",
          "[pruning][ltp][ltp_method]") {
  test::TempDir tmp("ltp-clamp");
  // Phase A's end: the clamped fractions of every epoch, overall and per layer, and the summary.
  struct Run {
    std::vector<nlohmann::json> lines;
    nlohmann::json summary;
  };
  auto run = [&](const std::string& name, const nlohmann::json& changes) {
    std::string out = tmp.file(name);
    nlohmann::json j = ltp_run(out);
    j["pruning"].merge_patch(changes);
    auto method = make(j["pruning"]);
    nlohmann::json s = train(as_manifest(j), *method);
    return Run{test::metrics_without_timing(out), s};
  };
  auto fractions = [](const Run& r) {
    std::vector<double> f;
    for (const nlohmann::json& l : r.lines) {
      if (!l.contains("thresholds")) {  // phase B: τ is gone, nothing is counted
        CHECK_FALSE(l.contains("tau_clamped_fraction"));
        continue;
      }
      REQUIRE(l.contains("tau_clamped_fraction"));
      REQUIRE(l["tau_clamped_fraction_layers"].size() == 2);
      double mean = 0.0;
      for (const auto& [name, v] : l["tau_clamped_fraction_layers"].items()) {
        f.push_back(v.get<double>());
        mean += v.get<double>() / 2.0;
      }
      CHECK(l["tau_clamped_fraction"].get<double>() == Approx(mean).margin(1e-12));
      f.push_back(l["tau_clamped_fraction"].get<double>());
    }
    return f;
  };

  // No clamp: nothing is clamped. The thresholds alone set the deployed sparsity (no top-up by
  // default, although the target 0.5 is not reached).
  Run free = run("free", {{"clip_tau", 0.0}, {"lr_tau", 1e-9}});
  REQUIRE(free.lines.size() == 4);
  for (double f : fractions(free)) CHECK(f == 0.0);
  CHECK(free.summary["top_up"] == false);
  CHECK(free.summary["top_up_pruned"] == 0);
  CHECK(free.summary["ltp_sparsity"].get<double>() < 0.5);
  CHECK(free.summary["sparsity"].get<double>() == Approx(free.summary["ltp_sparsity"].get<double>()).margin(1e-12));
  CHECK(free.summary["sparsity"].get<double>() == Approx(free.lines[2]["sparsity"].get<double>()).margin(1e-12));

  // A clamp far below every gradient binds on every step of every layer.
  Run tight = run("tight", {{"clip_tau", 1e-20}, {"lr_tau", 1e-9}});
  for (double f : fractions(tight)) CHECK(f == 1.0);

  // Unclamped, λ is what the thresholds follow: four times λ prunes clearly more.
  Run heavy = run("heavy", {{"clip_tau", 0.0}, {"lr_tau", 1e-9}, {"lambda", 4.0}});
  INFO("sparsity at lambda 1: " << free.summary["ltp_sparsity"] << ", at lambda 4: " << heavy.summary["ltp_sparsity"]);
  CHECK(heavy.summary["ltp_sparsity"].get<double>() > free.summary["ltp_sparsity"].get<double>() + 0.05);
  CHECK(heavy.summary["sparsity"].get<double>() == Approx(heavy.summary["ltp_sparsity"].get<double>()).margin(1e-12));
}

TEST_CASE("ltp resumed mid-trail and in phase B ends bit for bit as an uninterrupted run", "[pruning][ltp][ltp_method][resume]") {
  // clip_tau 1e-20 clamps every τ step: the clamp counts of the epoch a checkpoint cuts must come
  // back with it, or the resumed run logs a smaller tau_clamped_fraction.
  for (double clip : {20.0, 1e-20}) {
  INFO("clip_tau " << clip);
  test::TempDir tmp("ltp-resume");
  std::string a = tmp.file("a");
  nlohmann::json ja = ltp_run(a);
  ja["train"]["checkpoint_every_steps"] = 3;
  ja["pruning"]["clip_tau"] = clip;
  auto full_method = make(ja["pruning"]);
  nlohmann::json full = train(as_manifest(ja), *full_method);
  for (int64_t kill_at : {17, 35}) {  // phase A epoch 2 (after the first trail point), phase B
    std::string b = tmp.file(cat("b", kill_at));
    nlohmann::json jb = ltp_run(b);
    jb["train"]["checkpoint_every_steps"] = 3;
    jb["pruning"]["clip_tau"] = clip;
    auto m2 = make(jb["pruning"]);
    TrainOptions kill;
    kill.interrupt = [kill_at](int64_t step) { return step == kill_at; };
    CHECK(train(as_manifest(jb), *m2, kill).empty());
    auto m3 = make(jb["pruning"]);  // a fresh process: nothing carried over but the run folder
    TrainOptions resume;
    resume.resume = true;
    nlohmann::json resumed = train(as_manifest(jb), *m3, resume);
    INFO("killed at step " << kill_at);
    CHECK(test::metrics_without_timing(a) == test::metrics_without_timing(b));
    CHECK(test::same_checkpoint_weights(a, b));
    CHECK(resumed["test_accuracy"] == full["test_accuracy"]);
    CHECK(resumed["trail"] == full["trail"]);
    CHECK(resumed["thresholds"] == full["thresholds"]);
    for (const nlohmann::json& p : full["trail"])
      CHECK(read_file(a + "/" + p["file"].get<std::string>()) == read_file(b + "/" + p["file"].get<std::string>()));
    CHECK(read_file(a + "/model.safetensors") == read_file(b + "/model.safetensors"));
  }
  }
}

TEST_CASE("an ltp checkpoint from before top_up was a setting finishes with the top-up its target implied",
          "[pruning][ltp][ltp_method][resume]") {
  test::TempDir tmp("ltp-old-ckpt");
  for (bool old_format : {false, true}) {
    INFO("old format: " << old_format);
    std::string out = tmp.file(old_format ? "old" : "new");
    nlohmann::json j = ltp_run(out);  // target 0.5, no "top_up"
    j["train"]["checkpoint_every_steps"] = 3;
    auto m1 = make(j["pruning"]);
    TrainOptions kill;
    kill.interrupt = [](int64_t step) { return step == 17; };  // phase A
    REQUIRE(train(as_manifest(j), *m1, kill).empty());
    if (old_format) {  // the method state as the earlier trim wrote it
      const std::string ck = out + "/checkpoint.safetensors";
      SafetensorsFile f = load_safetensors(ck);
      nlohmann::json state = nlohmann::json::parse(f.metadata.at("trim.method"));
      REQUIRE(state.contains("top_up"));
      state.erase("top_up");
      state.erase("tau_clamped_steps");
      f.metadata["trim.method"] = state.dump();
      save_safetensors(ck, f.tensors, f.metadata);
    }
    auto m2 = make(j["pruning"]);
    TrainOptions resume;
    resume.resume = true;
    nlohmann::json s = train(as_manifest(j), *m2, resume);
    CHECK(s["top_up"] == old_format);
    CHECK((s["top_up_pruned"].get<int64_t>() > 0) == old_format);
    if (old_format) CHECK(s["pruned_parameters"].get<int64_t>() == count_for_sparsity(0.5, s["prunable_parameters"].get<int64_t>()));
    else CHECK(s["sparsity"].get<double>() == Approx(s["ltp_sparsity"].get<double>()).margin(1e-12));
  }
}

TEST_CASE("the shipped ltp manifests build their method strictly and start from the pretrained MLP", "[pruning][ltp][ltp_method][manifests]") {
  // The equal budget of the MLP methods: 12 epochs in all, 6 of them the dense pretraining whose
  // model.safetensors every LTP manifest loads through init_from (paths relative to the repository,
  // where the apps run: trim-train apps/manifests/fmnist_mlp_pretrain.json first).
  Manifest pre = load_manifest(TRIM_SOURCE_DIR "/apps/manifests/fmnist_mlp_pretrain.json", {});
  CHECK(pre.json["output"] == "runs/fmnist_mlp_pretrain");
  CHECK_FALSE(pre.json.contains("pruning"));
  const int64_t pre_epochs = pre.json["train"]["epochs"].get<int64_t>();
  CHECK(pre_epochs == 6);
  for (int pct : {90, 95, 98}) {
    std::string path = cat(TRIM_SOURCE_DIR, "/apps/manifests/fmnist_mlp_ltp_", pct, ".json");
    INFO(path);
    Manifest m = load_manifest(path, {});
    CHECK(m.json["init_from"] == pre.json["output"].get<std::string>() + "/model.safetensors");
    CHECK(pre_epochs + m.json["train"]["epochs"].get<int64_t>() + m.json["pruning"]["finetune_epochs"].get<int64_t>() == 12);
    CHECK(m.json["model"] == pre.json["model"]);
    CHECK(m.json["pruning"]["target"].get<double>() == Approx(pct / 100.0));
    CHECK(m.json["pruning"].value("top_up", false) == false);  // the thresholds alone set the sparsity
    CHECK(make(m.json["pruning"])->name() == "ltp");
    Manifest no_t0 = load_manifest(path, {});
    no_t0.json["pruning"].erase("t0");
    Config c(no_t0.json["pruning"], no_t0.source, "/pruning");
    CHECK_THROWS_WITH(make_pruning_method(c, {"ltp"}), Catch::Contains("/pruning/t0: required key is missing"));
  }
}
