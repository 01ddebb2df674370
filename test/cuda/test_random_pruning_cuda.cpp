// Random pruning on CUDA draws the same masks as on the CPU: they depend only on the seed and the
// shapes (Philox gives the same numbers on both backends), not on the trained weights.
#include <catch2/catch.hpp>

#include "apps/runner/trainer.h"
#include "core/io/safetensors.h"
#include "pruning/registry.h"
#include "pruning/select.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;

TEST_CASE("random pruning on CUDA keeps the CPU's mask", "[cuda][pruning][random]") {
  test::TempDir tmp("random-cuda");
  std::vector<std::vector<float>> deployed;
  for (const char* device : {"cuda", "cpu"}) {
    nlohmann::json j = test::small_run(tmp.file(device), device);
    j["model"] = {{"name", "mlp"}, {"hidden", {32, 16}}};
    j["data"]["train_limit"] = 600;
    j["data"]["test_limit"] = 300;
    j["train"]["epochs"] = 1;
    j["pruning"] = {{"method", "random"}, {"target", 0.7}, {"scope", "global"}};
    Manifest m = test::as_manifest(j);
    Config pc(m.json["pruning"], m.source, "/pruning");
    auto method = make_pruning_method(pc, method_family("trim-magnitude"));
    pc.finish();
    train(m, *method);
    for (NamedTensor& t : load_safetensors(tmp.file(device) + "/model.safetensors").tensors)
      if (t.tensor.ndim() >= 2) deployed.push_back(t.tensor.to_vector<float>());
  }
  const size_t layers = deployed.size() / 2;
  REQUIRE(layers == 3);
  int64_t gpu_zeros = 0, total = 0;
  for (size_t l = 0; l < layers; ++l) {
    for (float v : deployed[l]) gpu_zeros += v == 0.0f;
    total += int64_t(deployed[l].size());
  }
  CHECK(gpu_zeros == count_for_sparsity(0.7, total));  // the GPU run pruned, exactly to the target
  for (size_t l = 0; l < layers; ++l) {
    const std::vector<float>&gpu = deployed[l], &cpu = deployed[l + layers];
    REQUIRE(gpu.size() == cpu.size());
    int64_t differ = 0;
    for (size_t i = 0; i < gpu.size(); ++i) differ += (gpu[i] == 0.0f) != (cpu[i] == 0.0f);
    CHECK(differ == 0);
  }
}
