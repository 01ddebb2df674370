#include "apps/runner/app_main.h"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "apps/runner/run_config.h"
#include "apps/runner/trainer.h"
#include "core/error.h"
#include "pruning/registry.h"

namespace trim {

int run_training_app(int argc, char** argv, const AppSpec& spec) {
  CLI::App app{spec.name + ": " + spec.about};
  std::string manifest;
  std::vector<std::string> sets;
  bool resume = false;
  app.add_option("manifest", manifest, "the run's manifest (see apps/manifests/)")->required();
  app.add_option("--set", sets, "override a manifest value: --set optimizer.lr=0.05 (repeatable)");
  app.add_flag("--resume", resume, "continue the run from <output>/checkpoint.safetensors");
  CLI11_PARSE(app, argc, argv);
  try {
    Manifest m = load_manifest(manifest, sets);
    TrainOptions options;
    options.resume = resume;
    nlohmann::json summary;
    if (spec.methods.empty()) {
      summary = train_classifier(m, options);
    } else {
      RunConfig cfg = parse_run_config(m);
      if (cfg.method.is_null()) throw Error(m.source + ": /pruning: required object is missing (the pruning settings)");
      Config pc(cfg.method, m.source, "/pruning");
      std::unique_ptr<TrainingMethod> method = make_pruning_method(pc, spec.methods);
      pc.finish();
      summary = train(m, *method, options);
    }
    std::printf("%s\n", summary.dump(2).c_str());
  } catch (...) {
    return report_exception(spec.name.c_str());  // any exception: one line, exit status 1
  }
  return 0;
}

}  // namespace trim
