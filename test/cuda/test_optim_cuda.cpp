// The multi-tensor SGD step (one launch for all parameters) equals the CPU loop, for the dense rule
// and the hard-mask rule, on tensors whose sizes straddle the step's chunk size.
#include <catch2/catch.hpp>

#include "core/optim/sgd.h"
#include "core/random/philox.h"
#include "pruning/mask_rule.h"
#include "test/support/gradcheck.h"

using namespace trim;

namespace {

template <class Rule>
std::vector<std::vector<float>> run(Device d, bool masked) {
  std::vector<int64_t> sizes{1, 7, kSgdChunk - 1, kSgdChunk, kSgdChunk + 3, 3 * kSgdChunk + 5};
  std::vector<OptimParam> params;
  std::vector<Tensor> masks;
  for (size_t k = 0; k < sizes.size(); ++k) {
    std::vector<float> w(static_cast<size_t>(sizes[k])), m(static_cast<size_t>(sizes[k]));
    for (int64_t i = 0; i < sizes[k]; ++i) {
      w[size_t(i)] = philox::normal(1, k, i);
      m[size_t(i)] = philox::uniform(2, k, i) < 0.5f ? 0.0f : 1.0f;
    }
    Tensor t = Tensor::from_vector(Shape{sizes[k]}, w, d);
    t.set_requires_grad(true);
    params.push_back({cat("p", k), t, k % 2 == 0});
    masks.push_back(Tensor::from_vector(Shape{sizes[k]}, m, d));
  }
  Sgd<Rule> opt(params, {0.05f, 0.9f, true, 1e-3f});
  if constexpr (std::is_same_v<Rule, MaskRule>)
    if (masked)
      for (size_t k = 0; k < sizes.size(); k += 2) opt.set_rule_params(k, {masks[k].template data<float>()});
  // More steps than the Uploader has slots, so its ring wraps around (and waits on its events).
  for (int step = 0; step < 9; ++step) {
    opt.zero_grad();
    for (size_t k = 0; k < sizes.size(); ++k) {
      std::vector<float> g(static_cast<size_t>(sizes[k]));
      for (int64_t i = 0; i < sizes[k]; ++i) g[size_t(i)] = philox::normal(3 + step, k, i);
      params[k].tensor.grad().copy_(Tensor::from_vector(Shape{sizes[k]}, g));
    }
    opt.set_lr(0.05f / float(step + 1));  // per-step scalars change between steps
    opt.step();
  }
  std::vector<std::vector<float>> out;
  for (auto& p : params) out.push_back(p.tensor.to_vector<float>());
  for (auto& [name, m] : opt.state()) out.push_back(m.template to_vector<float>());
  return out;
}

}  // namespace

TEST_CASE("the CUDA multi-tensor step equals the CPU step", "[cuda][optim]") {
  auto dense_cpu = run<DenseRule>(Device::cpu(), false), dense_gpu = run<DenseRule>(Device::cuda(0), false);
  auto mask_cpu = run<MaskRule>(Device::cpu(), true), mask_gpu = run<MaskRule>(Device::cuda(0), true);
  REQUIRE(dense_cpu.size() == dense_gpu.size());
  for (size_t k = 0; k < dense_cpu.size(); ++k) {
    INFO("tensor " << k);
    CHECK(test::mismatch(dense_gpu[k], dense_cpu[k], 1e-6, 1e-5) <= 1.0);
    CHECK(test::mismatch(mask_gpu[k], mask_cpu[k], 1e-6, 1e-5) <= 1.0);
  }
}
