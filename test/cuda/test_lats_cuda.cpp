// LATS on CUDA against the CPU: the method's training steps (latent weights and plain biases in one
// launch, thresholds from the S-LATS schedule set by before_step, momentum, Nesterov, weight
// decay, norm clipping) and its deployed model S_D(theta).
#include <catch2/catch.hpp>

#include <vector>

#include "core/random/generator.h"
#include "core/random/philox.h"
#include "models/models.h"
#include "pruning/lats.h"
#include "pruning/lats_rule.h"
#include "test/support/gradcheck.h"

using namespace trim;

namespace {

struct LatsSteps {
  std::vector<std::vector<float>> tensors;  // forward weights and biases, then optimizer state
  std::vector<float> thresholds;
  double sparsity = 0.0;
};

// Builds the mlp on `d`, attaches LATS and runs `steps` optimizer steps on seeded random gradients;
// then deploys.
LatsSteps run_lats_steps(Device d, int steps) {
  nlohmann::json pj = {{"method", "lats"}, {"final_threshold", 0.02}};
  Config pc(pj, "test.json", "/pruning");
  Lats lats(pc);
  pc.finish();
  nlohmann::json mj = {{"name", "mlp"}, {"in_features", 784}, {"hidden", {300, 100}}, {"num_classes", 10}};
  Config mc(mj, "test.json", "/model");
  default_generator().set_state(11, 0);
  std::shared_ptr<Module> model = build_model(mc);
  model->to(d);
  std::vector<OptimParam> params = optim_params(*model);
  lats.add_parameters(*model, params);
  auto store = std::make_shared<ParamStore>(params);
  lats.attach(*model, *store);
  SgdOptions o{0.1f, 0.9f, true, 5e-4f};
  o.clip_grad_norm = 1.0f;
  std::unique_ptr<SgdBase> opt = lats.make_optimizer(store, o);
  LatsSteps out;
  const int64_t epochs = 2, batches = steps / 2;
  for (int k = 0; k < steps; ++k) {
    opt->set_step_number(k);
    opt->zero_grad();
    for (const ParamSlot& s : store->slots()) {
      std::vector<float> g(size_t(s.numel));
      for (int64_t i = 0; i < s.numel; ++i) g[size_t(i)] = 0.05f * philox::normal(300 + uint64_t(k), uint64_t(s.offset), i);
      Tensor grad = s.param.tensor.grad();
      grad.copy_(Tensor::from_vector(s.param.tensor.shape(), g, d));
    }
    StepInfo at;
    at.epoch = k / batches, at.batch = k % batches, at.epochs = epochs, at.batches_per_epoch = batches, at.step = k;
    lats.before_step(at, *opt);
    opt->step();
    out.thresholds.push_back(lats.threshold());
  }
  for (const ParamSlot& s : store->slots()) out.tensors.push_back(s.param.tensor.to_vector<float>());
  for (auto& [name, t] : opt->state()) out.tensors.push_back(t.to_vector<float>());
  CHECK(opt->first_nonfinite_step() == -1);
  nlohmann::json summary;
  lats.finalize(*model, *store, summary);
  out.sparsity = summary["sparsity"].get<double>();
  for (const ParamSlot& s : store->slots()) out.tensors.push_back(s.param.tensor.to_vector<float>());
  return out;
}

}  // namespace

TEST_CASE("CUDA: LATS training steps and the deployed S_D(theta) equal the CPU", "[cuda][lats]") {
  LatsSteps cpu = run_lats_steps(Device::cpu(), 8), gpu = run_lats_steps(Device::cuda(0), 8);
  CHECK(cpu.thresholds == gpu.thresholds);
  CHECK(cpu.thresholds.back() == 0.02f);
  REQUIRE(cpu.tensors.size() == gpu.tensors.size());
  for (size_t k = 0; k < cpu.tensors.size(); ++k) {
    INFO("tensor " << k);
    CHECK(test::mismatch(gpu.tensors[k], cpu.tensors[k], 1e-6, 1e-5) <= 1.0);
  }
  CHECK(cpu.sparsity > 0.1);
  CHECK(gpu.sparsity == Approx(cpu.sparsity).margin(1e-3));  // entries at |theta| ~ D may round either way
}
