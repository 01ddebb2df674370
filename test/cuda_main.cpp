// CUDA tests compare the CUDA backend with the CPU backend. Without a usable GPU they cannot run:
// exit with CTest's skip code so CTest reports them as skipped, never as passed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdio>

#include "core/device.h"

int main(int argc, char** argv) {
  if (!trim::built_with_cuda()) {
    std::printf("trim_cuda_tests: this build has no CUDA backend: skipped\n");
    return 77;
  }
  if (trim::cuda_device_count() == 0) {
    std::printf("trim_cuda_tests: no usable CUDA device: skipped\n");
    return 77;
  }
  trim::resolve_device("cuda:0");
  trim::set_tf32(false, false);  // compare float32 with float32
  return Catch::Session().run(argc, argv);
}
