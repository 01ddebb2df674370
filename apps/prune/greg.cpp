// trim-greg: GReg-1 and GReg-2, pruning by growing regularization (specs/greg.md), on a manifest.
//   trim-greg apps/manifests/fmnist_cnn_greg1_90.json [--set key=value ...] [--resume]
// Filter mode also writes the physically slimmed model: <output>/model_slim.safetensors and
// <output>/model_slim.json (its model spec, for build_model).
#include "apps/runner/app_main.h"
#include "apps/runner/run_config.h"
#include "pruning/greg.h"

int main(int argc, char** argv) {
  trim::AppSpec spec{"trim-greg", "GReg-1 / GReg-2 pruning by growing L2 regularization", {"greg1", "greg2"}};
  spec.prepare = [](const trim::RunConfig& cfg, trim::TrainingMethod& method) {
    if (auto* g = dynamic_cast<trim::Greg*>(&method)) g->set_slim_export(cfg.output, cfg.model);
  };
  return trim::run_training_app(argc, argv, spec);
}
