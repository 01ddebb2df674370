// trim-train: dense training of an image classifier from a JSON manifest.
//   trim-train apps/manifests/fmnist_cnn.json [--set key=value ...] [--resume]
#include <CLI/CLI.hpp>
#include <cstdio>

#include "apps/runner/trainer.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"trim-train: train an image classifier as a JSON manifest describes"};
  std::string manifest;
  std::vector<std::string> sets;
  bool resume = false;
  app.add_option("manifest", manifest, "the run's manifest (see apps/manifests/)")->required();
  app.add_option("--set", sets, "override a manifest value: --set optimizer.lr=0.05 (repeatable)");
  app.add_flag("--resume", resume, "continue the run from <output>/checkpoint.safetensors");
  CLI11_PARSE(app, argc, argv);
  try {
    trim::TrainOptions options;
    options.resume = resume;
    nlohmann::json summary = trim::train_classifier(trim::load_manifest(manifest, sets), options);
    std::printf("%s\n", summary.dump(2).c_str());
  } catch (...) {
    return trim::report_exception("trim-train");  // any exception: one line, exit status 1
  }
  return 0;
}
