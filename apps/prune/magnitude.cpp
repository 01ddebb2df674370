// trim-magnitude: the magnitude baselines (pruning/README.md) on a JSON manifest.
//   trim-magnitude apps/manifests/fmnist_mlp_gmp_90.json [--set key=value ...] [--resume]
#include "apps/runner/app_main.h"

int main(int argc, char** argv) {
  return trim::run_training_app(argc, argv, {"trim-magnitude", "one-shot, gradual and lottery-ticket magnitude pruning"});
}
