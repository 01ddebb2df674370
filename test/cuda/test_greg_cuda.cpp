// GReg's rule (per-row and per-element lambda before weight decay and momentum, hard mask on
// gradient, weight and momentum) on CUDA against the CPU.
#include <catch2/catch.hpp>

#include "core/optim/sgd.h"
#include "core/random/philox.h"
#include "pruning/greg_rule.h"
#include "test/support/gradcheck.h"

using namespace trim;

namespace {

std::vector<float> random_vector(int64_t n, uint64_t seed, float scale = 1.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = scale * philox::normal(seed, 9, i);
  return v;
}

// Rows of `row` elements; tensors straddle the chunk size; slot 0 per-element lambda, slot 1 per
// row with a mask, slot 2 mask only, slot 3 dense. Returns weights and momenta after 4 steps.
std::vector<std::vector<float>> run_greg(Device d) {
  const int64_t row = 9;
  std::vector<int64_t> rows{5, kSgdChunk / row + 3, 3 * kSgdChunk / row - 1, 17};
  std::vector<OptimParam> ps;
  std::vector<Tensor> ws, lams, masks;
  for (size_t k = 0; k < rows.size(); ++k) {
    int64_t n = rows[k] * row;
    Tensor w = Tensor::from_vector(Shape{rows[k], row}, random_vector(n, 50 + k, 0.1f), d);
    w.set_requires_grad(true);
    ws.push_back(w);
    ps.push_back({cat("w", k), w, true});
    int64_t nl = k == 0 ? n : rows[k];
    std::vector<float> l(static_cast<size_t>(nl)), m(static_cast<size_t>(n), 1.0f);
    for (int64_t i = 0; i < nl; ++i) l[size_t(i)] = 0.5f * philox::uniform(60 + k, 0, i);
    for (int64_t i = 0; i < n; ++i) m[size_t(i)] = philox::uniform(70 + k, 0, i / row) < 0.4f ? 0.0f : 1.0f;
    lams.push_back(Tensor::from_vector(Shape{nl}, l, d));
    masks.push_back(Tensor::from_vector(Shape{n}, m, d));
  }
  Sgd<GregRule> opt(ps, {0.05f, 0.9f, false, 5e-4f});
  opt.set_rule_params(0, {{lams[0].data<float>(), 1}, {nullptr}});
  opt.set_rule_params(1, {{lams[1].data<float>(), row}, {masks[1].data<float>()}});
  opt.set_rule_params(2, {{nullptr, row}, {masks[2].data<float>()}});
  for (int step = 0; step < 4; ++step) {
    opt.set_step_number(step);
    opt.zero_grad();
    for (size_t k = 0; k < ws.size(); ++k)
      ws[k].grad().copy_(Tensor::from_vector(ws[k].shape(), random_vector(ws[k].numel(), 300 + 10 * step + k), d));
    opt.step();
  }
  std::vector<std::vector<float>> out;
  for (auto& w : ws) out.push_back(w.to_vector<float>());
  for (auto& [name, t] : opt.state()) out.push_back(t.to_vector<float>());
  CHECK(opt.first_nonfinite_step() == -1);
  return out;
}

}  // namespace

TEST_CASE("CUDA: the GReg step (lambda per element and per row, masks) equals the CPU", "[cuda][optim][greg]") {
  auto cpu = run_greg(Device::cpu()), gpu = run_greg(Device::cuda(0));
  REQUIRE(cpu.size() == gpu.size());
  for (size_t k = 0; k < cpu.size(); ++k) {
    INFO("tensor " << k);
    CHECK(test::mismatch(gpu[k], cpu[k], 1e-6, 1e-5) <= 1.0);
  }
  // Masked rows of slots 1 and 2 are exactly zero on the device, weight and momentum.
  for (size_t k : {size_t(1), size_t(2), size_t(5), size_t(6)})
    for (size_t i = 0; i < cpu[k].size(); ++i)
      if (cpu[k][i] == 0.0f) REQUIRE(gpu[k][i] == 0.0f);
}
