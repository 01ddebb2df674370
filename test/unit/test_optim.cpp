#include <catch2/catch.hpp>

#include <cmath>

#include "core/ops/elementwise.h"
#include "core/optim/schedule.h"
#include "core/optim/sgd.h"
#include "core/random/philox.h"
#include "test/support/fixtures.h"

using namespace trim;

using test::leaf;

namespace {
void set_grad(Tensor& p, std::vector<float> g) { p.grad().copy_(Tensor::from_vector(p.shape(), g)); }
}  // namespace

TEST_CASE("SGD follows PyTorch's update: decay, momentum, Nesterov", "[optim]") {
  Tensor w = leaf({1.0f});
  DenseSgd opt({{"w", w, true}}, {0.1f, 0.9f, false, 0.01f});
  set_grad(w, {0.5f});
  opt.step();
  // g = 0.5 + 0.01 * 1 = 0.51; v = 0.51; w = 1 - 0.1 * 0.51
  CHECK(w.item() == Approx(0.949f).epsilon(1e-6));
  opt.step();
  // g = 0.5 + 0.01 * 0.949; v = 0.9 * 0.51 + g; w -= 0.1 v
  double g2 = 0.5 + 0.01 * 0.949, v2 = 0.9 * 0.51 + g2;
  CHECK(w.item() == Approx(0.949 - 0.1 * v2).epsilon(1e-6));
  CHECK(opt.state().at(0).second.item() == Approx(v2).epsilon(1e-6));

  Tensor n = leaf({1.0f});
  DenseSgd nest({{"n", n, true}}, {0.1f, 0.9f, true, 0.0f});
  set_grad(n, {0.5f});
  nest.step();  // v = 0.5; update g + 0.9 v = 0.95
  CHECK(n.item() == Approx(1.0 - 0.095).epsilon(1e-6));
}

TEST_CASE("parameters that opt out of weight decay are not decayed", "[optim]") {
  Tensor a = leaf({2.0f}), b = leaf({2.0f});
  DenseSgd opt({{"a", a, true}, {"b", b, false}}, {1.0f, 0.0f, false, 0.1f});
  opt.zero_grad();
  opt.step();
  CHECK(a.item() == Approx(1.8f));
  CHECK(b.item() == 2.0f);
  CHECK(opt.state().empty());  // no momentum buffers without momentum
}

TEST_CASE("the multi-tensor step equals a per-element double-precision reference", "[optim]") {
  // Sizes straddle the step's chunk size, so chunk boundaries are exercised (on CUDA too).
  std::vector<int64_t> sizes{1, 7, kSgdChunk - 1, kSgdChunk, kSgdChunk + 3, 3 * kSgdChunk + 5};
  std::vector<OptimParam> params;
  std::vector<std::vector<double>> w, v;
  for (size_t k = 0; k < sizes.size(); ++k) {
    std::vector<float> init(static_cast<size_t>(sizes[k]));
    for (int64_t i = 0; i < sizes[k]; ++i) init[size_t(i)] = philox::normal(1, k, i);
    params.push_back({cat("p", k), leaf(init), k % 2 == 0});
    w.emplace_back(init.begin(), init.end());
    v.emplace_back(size_t(sizes[k]), 0.0);
  }
  SgdOptions o{0.05f, 0.9f, true, 1e-3f};
  DenseSgd opt(params, o);
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    for (size_t k = 0; k < sizes.size(); ++k) {
      std::vector<float> g(static_cast<size_t>(sizes[k]));
      for (int64_t i = 0; i < sizes[k]; ++i) g[size_t(i)] = philox::normal(2 + step, k, i);
      Tensor grad = params[k].tensor.grad();
      add_(grad, Tensor::from_vector(params[k].tensor.shape(), g));
      for (int64_t i = 0; i < sizes[k]; ++i) {
        double gg = g[size_t(i)] + (params[k].decay ? 1e-3 : 0.0) * w[k][size_t(i)];
        double& vv = v[k][size_t(i)];
        vv = 0.9 * vv + gg;
        w[k][size_t(i)] -= 0.05 * (gg + 0.9 * vv);
      }
    }
    opt.step();
  }
  for (size_t k = 0; k < sizes.size(); ++k) {
    auto got = params[k].tensor.to_vector<float>();
    for (size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(w[k][i]).margin(1e-5));
  }
}

TEST_CASE("gradients live in one flat buffer that zero_grad clears", "[optim]") {
  Tensor a = leaf({1, 2, 3}), b = leaf({4, 5});
  DenseSgd opt({{"a", a, true}, {"b", b, true}}, {0.1f, 0.0f, false, 0.0f});
  set_grad(a, {1, 1, 1});
  set_grad(b, {2, 2});
  auto flat = opt.flat_grad().to_vector<float>();
  CHECK(flat[0] == 1.0f);
  CHECK(flat[64] == 2.0f);  // each parameter starts on a 64-element boundary
  opt.zero_grad();
  CHECK(a.grad().to_vector<float>() == std::vector<float>{0, 0, 0});
  CHECK(b.grad().to_vector<float>() == std::vector<float>{0, 0});
}

TEST_CASE("learning-rate schedules", "[optim][schedule]") {
  LrSchedule s;
  s.base_lr = 0.1f;
  s.epochs = 10;
  s.kind = LrSchedule::Kind::cosine;
  CHECK(s.lr_at(0, 0, 100) == Approx(0.1f));
  CHECK(s.lr_at(5, 50, 100) == Approx(0.05f));  // per epoch: the batch does not matter
  s.per_iteration = true;
  CHECK(s.lr_at(5, 0, 100) == Approx(0.05f));
  CHECK(s.lr_at(2, 50, 100) == Approx(0.05 * (1 + std::cos(M_PI * 0.25))).epsilon(1e-5));
  s.per_iteration = false;
  s.warmup_epochs = 5;  // LATS: lr (e + 1) / 5 for 5 epochs, then cosine over the rest
  CHECK(s.lr_at(0, 0, 100) == Approx(0.02f));
  CHECK(s.lr_at(4, 99, 100) == Approx(0.1f));
  CHECK(s.lr_at(5, 0, 100) == Approx(0.1f));
  CHECK(s.lr_at(7, 0, 100) == Approx(0.05 * (1 + std::cos(M_PI * 2 / 5))).epsilon(1e-5));
  s.per_iteration = true;
  CHECK(s.lr_at(0, 0, 100) == Approx(0.1 / 500));
  LrSchedule m;
  m.base_lr = 0.01f;
  m.kind = LrSchedule::Kind::multistep;
  m.milestones = {60, 90};  // GReg's fine-tuning
  CHECK(m.lr_at(59, 0, 10) == Approx(0.01f));
  CHECK(m.lr_at(60, 0, 10) == Approx(0.001f));
  CHECK(m.lr_at(95, 0, 10) == Approx(0.0001f));
  LrSchedule st;
  st.base_lr = 1.0f;
  st.kind = LrSchedule::Kind::step;
  st.step_size = 30;
  st.gamma = 0.5f;
  CHECK(st.lr_at(29, 0, 1) == 1.0f);
  CHECK(st.lr_at(30, 0, 1) == 0.5f);
  CHECK(st.lr_at(61, 0, 1) == 0.25f);
}
