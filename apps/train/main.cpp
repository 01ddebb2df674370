// trim-train: dense training of an image classifier from a JSON manifest.
//   trim-train apps/manifests/fmnist_cnn.json [--set key=value ...] [--resume]
#include "apps/runner/app_main.h"

int main(int argc, char** argv) {
  return trim::run_training_app(argc, argv, {"trim-train", "train an image classifier as a JSON manifest describes"});
}
