// trim-ltp: learned threshold pruning (pruning/README.md#ltp) on a JSON manifest.
//   trim-ltp apps/manifests/fmnist_mlp_ltp_90.json [--set key=value ...] [--resume]
#include "apps/runner/app_main.h"

int main(int argc, char** argv) {
  return trim::run_training_app(argc, argv, {"trim-ltp", "learned threshold pruning (LTP)"});
}
