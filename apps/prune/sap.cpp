// trim-sap: SAP, PQ-Index-informed adaptive pruning with rewinding (pruning/README.md#sap).
//   trim-sap apps/manifests/fmnist_mlp_sap_90.json [--set key=value ...] [--resume]
#include "apps/runner/app_main.h"

int main(int argc, char** argv) {
  return trim::run_training_app(argc, argv, {"trim-sap", "sparsity-informed adaptive pruning (PQ Index)"});
}
