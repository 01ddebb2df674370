// Every manifest shipped in apps/manifests/ is valid: it parses strictly and its model builds.
#include <catch2/catch.hpp>

#include <filesystem>

#include "apps/runner/run_config.h"
#include "models/models.h"
#include "pruning/registry.h"

using namespace trim;

TEST_CASE("every shipped manifest parses and builds its model", "[config][manifests]") {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(TRIM_SOURCE_DIR "/apps/manifests")) {
    if (e.path().extension() != ".json") continue;
    INFO(e.path().string());
    Manifest m = load_manifest(e.path().string(), {});
    RunConfig cfg = parse_run_config(m);
    Config spec(cfg.model, m.source, "/model");
    CHECK(build_model(spec)->num_parameters() > 0);
    spec.finish();
    if (!cfg.method.is_null()) {  // a pruning manifest: its method's settings are valid too
      Config pc(cfg.method, m.source, "/pruning");
      CHECK(make_pruning_method(pc, pruning_method_names()) != nullptr);
      pc.finish();
      // Named fmnist_<model>_<method>_<percent>.json after what it runs.
      std::string stem = e.path().stem().string();
      CHECK(stem.find("_" + pc.json()["method"].get<std::string>() + "_") != std::string::npos);
    }
    ++n;
  }
  CHECK(n >= 3);
}

TEST_CASE("SAP's recipe clips the gradient norm; a negative clip is refused", "[config][manifests]") {
  Manifest m = load_manifest(TRIM_SOURCE_DIR "/apps/manifests/fmnist_mlp.json", {});
  CHECK(parse_run_config(m).sgd.clip_grad_norm == 1.0f);
  Manifest bad = load_manifest(TRIM_SOURCE_DIR "/apps/manifests/fmnist_mlp.json", {"optimizer.clip_grad_norm=-1"});
  CHECK_THROWS_WITH(parse_run_config(bad), Catch::Contains("/optimizer/clip_grad_norm: must be >= 0"));
  Manifest pruning = load_manifest(TRIM_SOURCE_DIR "/apps/manifests/fmnist_mlp.json", {"pruning=3"});
  CHECK_THROWS_WITH(parse_run_config(pruning), Catch::Contains("/pruning: expected an object"));
}
