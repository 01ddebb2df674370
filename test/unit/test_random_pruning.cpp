// The random-pruning baseline: exact counts per layer and over the set, masks that ignore
// magnitudes, reproducible from the run's seed and different for another seed, and its errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "apps/runner/trainer.h"
#include "core/io/safetensors.h"
#include "pruning/registry.h"
#include "pruning/select.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;

namespace {

// The mlp of the pruning tests: 784-32-16-10 on 600 images, 1 dense epoch + 1 fine-tuning epoch.
nlohmann::json random_run(const std::string& out, const nlohmann::json& pruning, int seed = 0) {
  nlohmann::json j = test::small_run(out);
  j["model"] = {{"name", "mlp"}, {"hidden", {32, 16}}};
  j["data"]["train_limit"] = 600;
  j["data"]["test_limit"] = 300;
  j["train"]["epochs"] = 1;
  j["seed"] = seed;
  j["pruning"] = pruning;
  return j;
}

nlohmann::json run(const nlohmann::json& j) {
  Manifest m = test::as_manifest(j);
  Config pc(m.json["pruning"], m.source, "/pruning");
  auto method = make_pruning_method(pc, method_family("trim-magnitude"));
  pc.finish();
  return train(m, *method);
}

// The deployed weights (conv / linear, ≥ 2-d) of a run, by name.
std::vector<NamedTensor> weights(const std::string& run) {
  std::vector<NamedTensor> w;
  for (NamedTensor& t : load_safetensors(run + "/model.safetensors").tensors)
    if (t.tensor.ndim() >= 2) w.push_back(t);
  return w;
}

int64_t zeros(const Tensor& t) {
  auto v = t.to_vector<float>();
  return std::count(v.begin(), v.end(), 0.0f);
}

}  // namespace

TEST_CASE("random pruning removes exactly floor(target * N) weights per layer, or over the set", "[pruning][random]") {
  test::TempDir tmp("random-pruning");
  run(random_run(tmp.file("layer"), {{"method", "random"}, {"target", 0.9}}));
  for (const NamedTensor& t : weights(tmp.file("layer"))) {
    INFO(t.name);
    CHECK(zeros(t.tensor) == count_for_sparsity(0.9, t.tensor.numel()));
  }
  nlohmann::json s = run(random_run(tmp.file("global"), {{"method", "random"}, {"target", 0.8}, {"scope", "global"}}));
  int64_t z = 0, n = 0;
  std::vector<double> layer_sparsity;
  for (const NamedTensor& t : weights(tmp.file("global"))) {
    z += zeros(t.tensor), n += t.tensor.numel();
    layer_sparsity.push_back(double(zeros(t.tensor)) / double(t.tensor.numel()));
  }
  CHECK(z == count_for_sparsity(0.8, n));
  CHECK(s["sparsity"].get<double>() == Approx(double(z) / double(n)).margin(1e-12));
  // Uniform over the set: each layer near 0.8 (784x32 has 25,088 weights: 0.8 ± 0.01 is > 3 sd),
  // where global magnitude pruning would prune the layers very differently.
  CHECK(layer_sparsity[0] == Approx(0.8).margin(0.01));
}

TEST_CASE("random masks ignore magnitudes, follow the run's seed and are reproducible", "[pruning][random]") {
  test::TempDir tmp("random-masks");
  nlohmann::json p = {{"method", "random"}, {"target", 0.5}};
  run(random_run(tmp.file("a"), p, 0));
  run(random_run(tmp.file("b"), p, 0));
  run(random_run(tmp.file("c"), p, 1));
  run(random_run(tmp.file("omp"), {{"method", "omp"}, {"target", 0.5}, {"scope", "layer"}}, 0));
  auto a = weights(tmp.file("a")), b = weights(tmp.file("b")), c = weights(tmp.file("c"));
  auto omp = weights(tmp.file("omp"));
  std::vector<float> wa = a[0].tensor.to_vector<float>(), wb = b[0].tensor.to_vector<float>();
  std::vector<float> wc = c[0].tensor.to_vector<float>(), wo = omp[0].tensor.to_vector<float>();
  int64_t same_as_b = 0, same_as_c = 0, same_as_omp = 0;
  for (size_t i = 0; i < wa.size(); ++i) {
    same_as_b += (wa[i] == 0.0f) == (wb[i] == 0.0f);
    same_as_c += (wa[i] == 0.0f) == (wc[i] == 0.0f);
    same_as_omp += (wa[i] == 0.0f) == (wo[i] == 0.0f);
  }
  const double n = double(wa.size());
  CHECK(same_as_b == int64_t(wa.size()));          // same seed: the same mask
  CHECK(same_as_c / n == Approx(0.5).margin(0.02));  // another seed: independent masks agree on half
  CHECK(same_as_omp / n == Approx(0.5).margin(0.02));  // unrelated to the magnitude mask
}

TEST_CASE("bad random-pruning settings name their JSON path", "[pruning][random][errors]") {
  test::TempDir tmp("random-errors");
  CHECK_THROWS_WITH(run(random_run(tmp.file("a"), {{"method", "random"}, {"target", 1.0}})),
                    Catch::Contains("/pruning/target"));
  CHECK_THROWS_WITH(run(random_run(tmp.file("b"), {{"method", "random"}, {"target", 0.5}, {"scope", "neuron"}})),
                    Catch::Contains("/pruning/scope"));
  CHECK_THROWS_WITH(run(random_run(tmp.file("c"), {{"method", "random"}, {"target", 0.5}, {"finetune_epochs", -1}})),
                    Catch::Contains("/pruning/finetune_epochs"));
}
