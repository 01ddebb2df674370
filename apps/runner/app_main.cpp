#include "apps/runner/app_main.h"

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>

#include "apps/runner/list.h"
#include "apps/runner/run_config.h"
#include "apps/runner/termination.h"
#include "apps/runner/trainer.h"
#include "core/error.h"
#include "pruning/registry.h"

namespace trim {

int run_training_app(int argc, char** argv, const AppSpec& spec) {
  CLI::App app{spec.name + ": " + spec.about};
  std::string manifest;
  std::vector<std::string> sets;
  std::string list;
  bool resume = false, resume_data_changed = false;
  app.add_option("manifest", manifest, "the run's manifest (see apps/manifests/)");
  app.add_option("--list", list, "print the models, data sets or pruning methods trim knows, then exit")
      ->check(CLI::IsMember({"models", "datasets", "methods"}));
  app.add_option("--set", sets, "override a manifest value: --set optimizer.lr=0.05 (repeatable)");
  app.add_flag("--resume", resume,
               "continue the run from <output>/checkpoint.safetensors; a finished run continues with a larger "
               "train.epochs where its schedule allows (constant, step, multistep; dense training)");
  app.add_flag("--resume-data-changed", resume_data_changed,
               "with --resume: continue even though the training data differs from the checkpoint's (data.dataset, "
               "data.root, the number of examples or their fingerprint), which --resume alone refuses");
  CLI11_PARSE(app, argc, argv);
  if (!list.empty()) {
    std::fputs(registry_listing(list).c_str(), stdout);
    return 0;
  }
  if (manifest.empty()) return app.exit(CLI::RequiredError("manifest"));
  if (resume_data_changed && !resume) return app.exit(CLI::ValidationError("--resume-data-changed", "needs --resume"));
  install_termination_handler();  // SIGTERM, SIGINT: checkpoint where training stands, then stop
  try {
    comm::launch();  // under mpirun: this process's rank (before any device is chosen)
    Manifest m = load_manifest(manifest, sets);
    RunConfig cfg = parse_run_config(m);  // the one parse of the manifest
    std::unique_ptr<TrainingMethod> method = make_training_method(m, cfg, method_family(spec.name));
    TrainOptions options;
    options.resume = resume;
    options.resume_data_changed = resume_data_changed;
    nlohmann::json summary = train(m, cfg, *method, options);
    if (summary.empty() && termination_requested()) {
      comm::shutdown();
      return 128 + termination_signal();  // 143 after SIGTERM, 130 after SIGINT, as a shell reports them
    }
    if (comm::launch().rank == 0) std::printf("%s\n", summary.dump(2).c_str());
  } catch (...) {
    int status = report_exception(spec.name.c_str());  // any exception: one line, exit status 1
    // A rank that raises ends the job at once, so no other rank waits for it in a collective.
    if (comm::launch().world > 1) comm::abort_job(status);
    return status;
  }
  comm::shutdown();
  return 0;
}

}  // namespace trim
