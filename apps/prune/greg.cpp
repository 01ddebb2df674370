// trim-greg: GReg-1 and GReg-2, pruning by growing regularization (pruning/README.md#greg), on a manifest.
//   trim-greg apps/manifests/fmnist_cnn_greg1_90.json [--set key=value ...] [--resume]
// Filter mode also writes the physically slimmed model: <output>/model_slim.safetensors and
// <output>/model_slim.json (its model spec, for build_model).
#include "apps/runner/app_main.h"

int main(int argc, char** argv) {
  return trim::run_training_app(argc, argv, {"trim-greg", "GReg-1 / GReg-2 pruning by growing L2 regularization"});
}
