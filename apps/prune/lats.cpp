// trim-lats: LATS soft threshold pruning, S-LATS / LATS / PGH / constant / exact schedules
// (pruning/README.md#lats, pruning/lats.h).
//   trim-lats apps/manifests/fmnist_mlp_lats_90.json [--set key=value ...] [--resume]
#include "apps/runner/app_main.h"

int main(int argc, char** argv) {
  return trim::run_training_app(argc, argv, {"trim-lats", "soft threshold pruning (LATS, S-LATS, PGH)"});
}
