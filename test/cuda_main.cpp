// CUDA tests compare the CUDA backend with the CPU backend. Listing cases (CTest's discovery runs
// --list-test-names-only and --list-reporters at build time) works without a GPU; running them
// does not: then the executable exits with CTest's skip code, so every case reports *skipped*,
// never passed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>

#include "core/device.h"
#ifdef TRIM_HAVE_CUDA
#include "core/cuda/runtime.h"
#endif

namespace {

bool only_lists(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strncmp(a, "--list", 6) == 0 || std::strcmp(a, "-l") == 0 || std::strcmp(a, "-t") == 0 ||
        std::strcmp(a, "-h") == 0 || std::strcmp(a, "-?") == 0 || std::strcmp(a, "--help") == 0)
      return true;
  }
  return false;
}

// The settings every case starts from, whatever the previous case (a training run sets TF32,
// determinism and benchmark from its manifest) left behind: float32 math on both sides of a
// comparison, deterministic algorithms chosen by heuristics. A case that wants others sets them.
void reset_cuda_settings() {
  trim::set_tf32(false, false);
  trim::set_deterministic(true);
  trim::set_benchmark(false);
}

struct ResetSettings : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(Catch::TestCaseInfo const&) override { reset_cuda_settings(); }
};

}  // namespace

CATCH_REGISTER_LISTENER(ResetSettings)

int main(int argc, char** argv) {
  if (only_lists(argc, argv)) return Catch::Session().run(argc, argv);
  if (!trim::built_with_cuda()) {
    std::printf("trim_cuda_tests: this build has no CUDA backend: skipped\n");
    return 77;
  }
  if (trim::cuda_device_count() == 0) {
    std::printf("trim_cuda_tests: no usable CUDA device: skipped\n");
    return 77;
  }
  trim::resolve_device("cuda:0");
#ifdef TRIM_HAVE_CUDA
  // New GPU memory reads as NaN: an output a kernel leaves partly unwritten fails its comparison.
  trim::cuda::set_poison_allocations(true);
#endif
  reset_cuda_settings();
  return Catch::Session().run(argc, argv);
}
