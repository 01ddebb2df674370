// The engine's step features on CUDA against the CPU: master/forward parameters (LATS rule),
// per-parameter lr scale and clamp, global gradient-norm clipping, the non-finite flag, and
// gradients written in place by backward with the gradient-ready hook.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "core/ops/ops.h"
#include "core/cuda/runtime.h"
#include "core/optim/sgd.h"
#include "core/random/philox.h"
#include "layers/layers.h"
#include "pruning/greg_rule.h"
#include "pruning/lats_rule.h"
#include "pruning/mask_rule.h"
#include "test/support/gradcheck.h"

using namespace trim;

namespace {

std::vector<float> random_vector(int64_t n, uint64_t seed, float scale = 1.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = scale * philox::normal(seed, 7, i);
  return v;
}

// Several steps of LATS SGD with clipping over tensors straddling the chunk size (one above 2^21
// elements, so the clip reduction runs many blocks); returns every forward weight, master and
// momentum, and the last norm.
std::vector<std::vector<float>> run_lats(Device d, float clip_norm, float* norm) {
  std::vector<int64_t> sizes{1, kSgdChunk + 3, 3 * kSgdChunk - 1, (int64_t(1) << 21) + 77};
  std::vector<OptimParam> ps;
  std::vector<Tensor> ws;
  for (size_t k = 0; k < sizes.size(); ++k) {
    Tensor t = Tensor::from_vector(Shape{sizes[k]}, random_vector(sizes[k], 40 + k, 0.05f), d);
    t.set_requires_grad(true);
    ws.push_back(t);
    ps.push_back({cat("w", k), t, k != 1, k == 2 ? 0.5f : 1.0f, k == 3 ? 0.01f : 0.0f, k != 0});
  }
  SgdOptions o{0.05f, 0.9f, true, 1e-4f};
  o.clip_grad_norm = clip_norm;
  Sgd<LatsRule> opt(ps, o);
  for (int step = 0; step < 5; ++step) {
    opt.set_step_number(step);
    opt.zero_grad();
    for (size_t k = 0; k < ws.size(); ++k)
      ws[k].grad().copy_(Tensor::from_vector(ws[k].shape(), random_vector(ws[k].numel(), 200 + 10 * step + k), d));
    opt.rule_scalars().threshold = 0.01f * float(step + 1);
    opt.step();
  }
  std::vector<std::vector<float>> out;
  for (auto& w : ws) out.push_back(w.to_vector<float>());
  for (auto& [name, t] : opt.state()) out.push_back(t.to_vector<float>());
  *norm = opt.last_grad_norm();
  CHECK(opt.first_nonfinite_step() == -1);
  return out;
}

}  // namespace

TEST_CASE("CUDA: the LATS master/forward step with lr scale, clamp and norm clipping equals the CPU",
          "[cuda][optim][lats]") {
  for (float clip : {0.0f, 1.0f}) {
    INFO("clip_grad_norm " << clip);
    float norm_cpu = 0, norm_gpu = 0;
    auto cpu = run_lats(Device::cpu(), clip, &norm_cpu), gpu = run_lats(Device::cuda(0), clip, &norm_gpu);
    REQUIRE(cpu.size() == gpu.size());
    for (size_t k = 0; k < cpu.size(); ++k) {
      INFO("tensor " << k);
      CHECK(test::mismatch(gpu[k], cpu[k], 1e-6, 1e-5) <= 1.0);
    }
    if (clip > 0) CHECK(norm_gpu == Approx(norm_cpu).epsilon(1e-6));
  }
}

TEST_CASE("CUDA: a non-finite gradient sets the device flag with its step", "[cuda][optim]") {
  Tensor w = Tensor::from_vector(Shape{3 * kSgdChunk}, random_vector(3 * kSgdChunk, 3), Device::cuda(0));
  w.set_requires_grad(true);
  DenseSgd opt({{"w", w}}, {0.1f, 0.0f, false, 0.0f});
  for (int64_t step = 0; step < 4; ++step) {
    opt.set_step_number(step);
    opt.zero_grad();
    std::vector<float> g(size_t(w.numel()), 1.0f);
    if (step >= 2) g[size_t(2 * kSgdChunk + 5)] = NAN;  // one element of the third block
    w.grad().copy_(Tensor::from_vector(w.shape(), g, Device::cuda(0)));
    opt.step();
    CHECK(opt.first_nonfinite_step() == (step < 2 ? -1 : 2));
  }
}

TEST_CASE("CUDA: backward writes gradients into the store and fires each hook once, as on the CPU",
          "[cuda][autograd]") {
  std::vector<std::vector<float>> grads[2];
  for (int dev = 0; dev < 2; ++dev) {
    Device d = dev == 0 ? Device::cpu() : Device::cuda(0);
    default_generator().set_state(9, 0);
    Conv2d conv(Conv2dOptions{.in = 3, .out = 8, .kernel = 3, .padding = 1, .bias = true});
    BatchNorm2d bn(8);
    Linear fc(8 * 8 * 8, 10), twice(10, 10);
    for (Module* m : std::initializer_list<Module*>{&conv, &bn, &fc, &twice}) m->to(d);
    std::vector<OptimParam> ps{{"c.w", conv.weight}, {"c.b", conv.bias}, {"bn.w", bn.weight}, {"bn.b", bn.bias},
                               {"fc.w", fc.weight},  {"fc.b", fc.bias},  {"t.w", twice.weight}, {"t.b", twice.bias}};
    ParamStore store(ps);
    std::map<size_t, int> fired;
    store.on_grad_ready([&](size_t slot, int64_t, int64_t) { ++fired[slot]; });
    Tensor x = Tensor::from_vector(Shape{16, 3, 8, 8}, random_vector(16 * 3 * 64, 5), d);
    Tensor labels = Tensor::from_vector<int32_t>(Shape{16}, std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6}, d);
    for (int pass = 0; pass < 2; ++pass) {  // the second accumulates (beta = 1)
      Tensor h = flatten(relu(bn.forward(conv.forward(x))));
      cross_entropy(twice.forward(relu(twice.forward(fc.forward(h)))), labels).backward();
    }
    store.finish_backward();
    CHECK(fired.size() == ps.size());
    for (auto& [slot, n] : fired) CHECK(n == 2);
    for (auto& p : ps) grads[dev].push_back(p.tensor.grad().to_vector<float>());
  }
  for (size_t k = 0; k < grads[0].size(); ++k) {
    INFO("parameter " << k);
    CHECK(test::mismatch(grads[1][k], grads[0][k], 1e-5, 1e-4) <= 1.0);
  }
}

TEST_CASE("CUDA: one optimizer step is one kernel launch for every rule and parameter count", "[cuda][optim]") {
  auto launches = [](auto& opt) {
    opt.zero_grad();
    opt.step();  // builds and uploads the tables once
    opt.zero_grad();
    uint64_t before = cuda::kernel_launches();
    opt.step();
    return cuda::kernel_launches() - before;
  };
  for (int count : {1, 7, 60}) {
    INFO(count << " parameters");
    auto params = [&] {
      std::vector<OptimParam> ps;
      for (int k = 0; k < count; ++k) {
        Tensor t = Tensor::zeros(Shape{1000 + 37 * k}, DType::f32, Device::cuda(0));
        t.set_requires_grad(true);
        ps.push_back({cat("p", k), t, true, 1.0f, 0.0f, k % 2 == 0});
      }
      return ps;
    };
    DenseSgd dense(params(), {0.1f, 0.9f, true, 1e-4f});
    CHECK(launches(dense) == 1);
    Sgd<LatsRule> lats(params(), {0.1f, 0.9f, false, 0.0f});
    CHECK(launches(lats) == 1);
    Tensor mask = Tensor::full(Shape{4000}, 1.0f, DType::f32, Device::cuda(0));
    Sgd<MaskRule> masked(params(), {0.1f, 0.9f, false, 5e-4f});
    for (int k = 0; k < count; k += 3) masked.set_rule_params(size_t(k), {mask.data<float>()});
    CHECK(launches(masked) == 1);
    Sgd<GregRule> greg(params(), {0.1f, 0.9f, true, 5e-4f});  // a chain of two pieces: still one launch
    for (int k = 0; k < count; k += 3) greg.set_rule_params(size_t(k), {{nullptr, 1}, {mask.data<float>()}});
    CHECK(launches(greg) == 1);
    SgdOptions clip{0.1f, 0.9f, false, 0.0f};
    clip.clip_grad_norm = 1.0f;
    DenseSgd clipped(params(), clip);
    CHECK(launches(clipped) == 3);  // the norm's two reduction passes, then the step
  }
}
