// Every manifest shipped in apps/manifests/ is valid: it parses strictly and its model builds.
#include <catch2/catch.hpp>

#include <filesystem>
#include <vector>

#include "apps/runner/run_config.h"
#include "models/models.h"
#include "pruning/registry.h"

using namespace trim;

TEST_CASE("every shipped manifest parses and builds its model", "[config][manifests]") {
  int n = 0;
  std::vector<std::filesystem::path> files;
  for (const char* dir : {TRIM_SOURCE_DIR "/apps/manifests", TRIM_SOURCE_DIR "/apps/manifests/published"})
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".json") files.push_back(e.path());
  for (const auto& path : files) {
    INFO(path.string());
    Manifest m = load_manifest(path.string(), {});
    RunConfig cfg = parse_run_config(m);
    Config spec(cfg.model, m.source, "/model");
    CHECK(build_model(spec)->num_parameters() > 0);
    spec.finish();
    if (!cfg.method.is_null()) {  // a pruning manifest: its method's settings are valid too
      Config pc(cfg.method, m.source, "/pruning");
      CHECK(make_pruning_method(pc, method_registry().names()) != nullptr);
      pc.finish();
      // Named after what it runs: fmnist_<model>_<method>_<percent>.json, published/<data>_<model>_<method>.json;
      // a method with an underscore may drop it (fmnist_cnn_l1filter_50.json, the name issue 19 gave).
      std::string stem = path.stem().string();
      std::string method = pc.json()["method"].get<std::string>(), joined;
      for (char ch : method)
        if (ch != '_') joined += ch;
      auto named = [&](const std::string& m) {
        std::string needle = "_";  // (built in steps: GCC 12 warns falsely on "_" + s + "_")
        needle += m;
        bool at_end = stem.size() >= needle.size() && stem.compare(stem.size() - needle.size(), needle.size(), needle) == 0;
        needle += '_';
        return stem.find(needle) != std::string::npos || at_end;
      };
      CHECK((named(method) || named(joined)));
    }
    ++n;
  }
  CHECK(n >= 3 + 15);  // the Fashion-MNIST ones and the 15 published
}

TEST_CASE("SAP's recipe clips the gradient norm; a negative clip is refused", "[config][manifests]") {
  Manifest m = load_manifest(TRIM_SOURCE_DIR "/apps/manifests/fmnist_mlp.json", {});
  CHECK(parse_run_config(m).sgd.clip_grad_norm == 1.0f);
  Manifest bad = load_manifest(TRIM_SOURCE_DIR "/apps/manifests/fmnist_mlp.json", {"optimizer.clip_grad_norm=-1"});
  CHECK_THROWS_WITH(parse_run_config(bad), Catch::Contains("/optimizer/clip_grad_norm: expected a number in [0, 1000000]"));
  Manifest pruning = load_manifest(TRIM_SOURCE_DIR "/apps/manifests/fmnist_mlp.json", {"pruning=3"});
  CHECK_THROWS_WITH(parse_run_config(pruning), Catch::Contains("/pruning: expected an object"));
}
