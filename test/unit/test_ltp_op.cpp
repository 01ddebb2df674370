// LTP's soft-mask op (pruning/ltp_op.h) on the CPU: the spec's oracles through the op and
// autograd, finite differences of the τ-gradient (multi-chunk layers), eq. 14's weight gradient,
// gradients written into a store's buffers, and sums that do not depend on the thread count.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/ops/ops.h"
#include "core/optim/param_store.h"
#include "core/random/philox.h"
#include "core/threads.h"
#include "pruning/ltp_math.h"
#include "pruning/ltp_op.h"

using namespace trim;

namespace {

Tensor leaf(const std::vector<float>& v, Shape s) {
  Tensor t = Tensor::from_vector(s, v);
  t.set_requires_grad(true);
  return t;
}

Tensor scalar1(float x, bool grad) {
  Tensor t = Tensor::from_vector(Shape{1}, std::vector<float>{x});
  if (grad) t.set_requires_grad(true);
  return t;
}

std::vector<float> random_w(int64_t n, uint64_t seed, float s) {
  std::vector<float> w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) w[size_t(i)] = s * philox::normal(seed, 0, i);
  return w;
}

// L = Σ c·v + k·L0 in double on the host (T fixed, as the op treats it).
double host_loss(const std::vector<float>& w, double tau, double temp, const std::vector<float>& c, double k) {
  double l = 0.0;
  for (size_t i = 0; i < w.size(); ++i) {
    double m = ltp::soft_mask(double(w[i]), tau, temp);
    l += double(c[i]) * ltp::masked_weight(double(w[i]), m) + k * m;
  }
  return l;
}

}  // namespace

TEST_CASE("ltp op oracles 1-3: temperature, mask, soft L0 and their gradients through autograd", "[pruning][ltp][ltp_op]") {
  Tensor w = leaf({0.25f, -0.5f, 0.75f}, Shape{3});
  Tensor temp = ltp_temperature(w, 1.5);
  CHECK(temp.item() == Approx(0.0625f).margin(1e-8));
  CHECK_FALSE(temp.requires_grad());

  {  // forward values and the cross-entropy gradients with g = 1
    Tensor tau = scalar1(0.25f, true);
    LtpMasked r = ltp_mask_l0(w, tau, temp);
    std::vector<float> v = r.v.to_vector<float>(), m = {0.0474259f, 0.5f, 0.9933071f};
    CHECK(v[0] == Approx(0.0118565f).margin(1e-7));
    CHECK(v[1] == Approx(-0.25f).margin(1e-7));
    CHECK(v[2] == Approx(0.7449804f).margin(1e-7));
    CHECK(r.l0.ndim() == 0);
    CHECK(r.l0.item() == Approx(1.5407330f).margin(1e-6));
    sum(r.v).backward();
    std::vector<float> gw = w.grad().to_vector<float>();
    for (int k = 0; k < 3; ++k) CHECK(gw[size_t(k)] == Approx(m[size_t(k)]).margin(1e-7));  // grad_w = m
    CHECK(tau.grad().item() == Approx(1.7395167f).margin(1e-5));
  }
  {  // the penalty alone: ∂L0/∂τ, and λ/Ntot with λ = 1, Ntot = 3; no gradient reaches w
    Tensor w2 = leaf({0.25f, -0.5f, 0.75f}, Shape{3});
    Tensor tau = scalar1(0.25f, true);
    LtpMasked r = ltp_mask_l0(w2, tau, temp);
    r.l0.backward();
    CHECK(tau.grad().item() == Approx(-4.8291955f).margin(1e-5));
    CHECK_FALSE(w2.grad().defined());
    Tensor tau3 = scalar1(0.25f, true);
    scale(ltp_mask_l0(w2, tau3, temp).l0, 1.0f / 3.0f).backward();
    CHECK(tau3.grad().item() == Approx(-1.6097318f).margin(1e-5));
  }
  {  // both at once: the engine adds the two τ contributions
    Tensor tau = scalar1(0.25f, true);
    LtpMasked r = ltp_mask_l0(w, tau, temp);
    add(sum(r.v), r.l0).backward();
    CHECK(tau.grad().item() == Approx(1.7395167f - 4.8291955f).margin(1e-5));
  }
}

TEST_CASE("ltp op oracle 5: scale invariance through the op", "[pruning][ltp][ltp_op]") {
  Tensor w = Tensor::from_vector(Shape{3}, std::vector<float>{0.25f, -0.5f, 0.75f});
  Tensor w2 = Tensor::from_vector(Shape{3}, std::vector<float>{0.5f, -1.0f, 1.5f});
  Tensor t1 = ltp_temperature(w, 1.5), t2 = ltp_temperature(w2, 1.5);
  CHECK(t2.item() == Approx(0.25f).margin(1e-7));
  std::vector<float> v1 = ltp_mask(w, scalar1(0.25f, false), t1).to_vector<float>();
  std::vector<float> v2 = ltp_mask(w2, scalar1(1.0f, false), t2).to_vector<float>();
  for (int k = 0; k < 3; ++k) CHECK(v2[size_t(k)] == Approx(2.0f * v1[size_t(k)]).margin(1e-6));  // same m
}

TEST_CASE("ltp op: the τ-gradient matches finite differences over a multi-chunk layer; eq. 14 is g*m",
          "[pruning][ltp][ltp_op]") {
  for (int64_t n : {int64_t(7), int64_t(20011)}) {  // 20011: three CPU reduction chunks
    INFO("n = " << n);
    std::vector<float> wv = random_w(n, 41, 0.4f), c = random_w(n, 42, 1.0f);
    const double k = 0.37;
    Tensor w = leaf(wv, Shape{n});
    Tensor temp = ltp_temperature(w, 2.0);
    CHECK(temp.item() == Approx(float(ltp::temperature(wv.data(), n, 2.0))).epsilon(1e-6));
    const float tau0 = 0.06f;
    Tensor tau = scalar1(tau0, true);
    LtpMasked r = ltp_mask_l0(w, tau, temp);
    Tensor cw = Tensor::from_vector(Shape{n}, c);
    add(sum(mul(r.v, cw)), scale(r.l0, float(k))).backward();

    const double t = double(temp.item()), h = 1e-5;
    double fd = (host_loss(wv, tau0 + h, t, c, k) - host_loss(wv, tau0 - h, t, c, k)) / (2 * h);
    CHECK(double(tau.grad().item()) == Approx(fd).epsilon(2e-4));
    // Eq. 14: the weight gradient is c·m exactly, not the through-mask derivative.
    std::vector<float> gw = w.grad().to_vector<float>();
    int far = 0;
    for (int64_t i = 0; i < std::min<int64_t>(n, 50); ++i) {
      float m = ltp::soft_mask(wv[size_t(i)], tau0, float(t));
      CHECK(gw[size_t(i)] == ltp::grad_w(c[size_t(i)], m));
      std::vector<float> wp = wv, wm = wv;
      wp[size_t(i)] += 1e-4f;
      wm[size_t(i)] -= 1e-4f;
      double fdw = (host_loss(wp, tau0, t, c, k) - host_loss(wm, tau0, t, c, k)) / double(wp[size_t(i)] - wm[size_t(i)]);
      far += std::fabs(double(gw[size_t(i)]) - fdw) > 1e-2 * (1.0 + std::fabs(fdw));
    }
    CHECK(far > 0);  // the dropped through-mask terms matter inside the band
  }
}

TEST_CASE("ltp op: finite differences of the op's own float loss in τ", "[pruning][ltp][ltp_op]") {
  std::vector<float> wv = random_w(9, 43, 0.5f), c = random_w(9, 44, 1.0f);
  Tensor w = Tensor::from_vector(Shape{3, 3}, wv), cw = Tensor::from_vector(Shape{3, 3}, c);
  Tensor temp = ltp_temperature(w, 3.0);
  auto loss_at = [&](float tv) {
    NoGradGuard ng;
    LtpMasked r = ltp_mask_l0(w, scalar1(tv, false), temp);
    return double(add(sum(mul(r.v, cw)), scale(r.l0, 0.5f)).item());
  };
  Tensor tau = scalar1(0.1f, true);
  LtpMasked r = ltp_mask_l0(w, tau, temp);
  add(sum(mul(r.v, cw)), scale(r.l0, 0.5f)).backward();
  const float h = 2e-3f;
  double fd = (loss_at(0.1f + h) - loss_at(0.1f - h)) / double(2 * h);
  CHECK(double(tau.grad().item()) == Approx(fd).epsilon(2e-2).margin(1e-3));
}

TEST_CASE("ltp op: gradients go straight into a store's buffers, overwritten then accumulated", "[pruning][ltp][ltp_op]") {
  std::vector<float> wv = random_w(300, 45, 0.3f);
  Tensor w = leaf(wv, Shape{10, 30});
  Tensor tau = scalar1(0.02f, true);
  ParamStore store({{"w", w}, {"tau", tau, false}});
  auto run = [&] {
    Tensor temp = ltp_temperature(w, 1.0);
    LtpMasked r = ltp_mask_l0(w, tau, temp);
    add(sum(r.v), r.l0).backward();
  };
  store.zero_grad();
  run();
  store.finish_backward();
  std::vector<float> g1 = w.grad().to_vector<float>();
  float t1 = tau.grad().item();
  const float temp = ltp_temperature(w, 1.0).item();
  for (size_t i = 0; i < wv.size(); ++i) REQUIRE(g1[i] == ltp::soft_mask(wv[i], 0.02f, temp));
  run();  // without zero_grad: added to what is there
  std::vector<float> g2 = w.grad().to_vector<float>();
  for (size_t i = 0; i < wv.size(); ++i) REQUIRE(g2[i] == 2.0f * g1[i]);
  CHECK(tau.grad().item() == Approx(2.0f * t1).epsilon(1e-6));
}

TEST_CASE("ltp op: the layer sums do not depend on the thread count", "[pruning][ltp][ltp_op]") {
  const int64_t n = 100003;
  std::vector<float> wv = random_w(n, 46, 0.05f);
  auto once = [&](int threads) {
    set_num_threads(threads);
    Tensor w = leaf(wv, Shape{n});
    Tensor tau = scalar1(1e-3f, true);
    LtpMasked r = ltp_mask_l0(w, tau, ltp_temperature(w, 1.0));
    float l0 = r.l0.item();
    add(sum(r.v), r.l0).backward();
    return std::vector<float>{l0, tau.grad().item()};
  };
  std::vector<float> a = once(1), b = once(2);
  set_num_threads(0);
  CHECK(a == b);
}

TEST_CASE("ltp op: bad inputs are refused by name", "[pruning][ltp][ltp_op]") {
  Tensor w = Tensor::zeros(Shape{4});
  CHECK_THROWS_WITH(ltp_mask(w, Tensor::zeros(Shape{2}), Tensor::full(Shape{1}, 1.0f)), Catch::Contains("tau"));
  CHECK_THROWS_WITH(ltp_mask(w, Tensor::zeros(Shape{1}), Tensor::zeros(Shape{1, 1})), Catch::Contains("temp"));
  CHECK_THROWS_WITH(ltp_temperature(Tensor::zeros(Shape{0}), 1.0), Catch::Contains("empty"));
}

TEST_CASE("ltp clamp counter adds one where the optimizer's clamp changes the gradient", "[pruning][ltp]") {
  // The step's clamp (core/optim/sgd_update.h) changes g only beyond ±clip; clip 0 is no clamp.
  std::vector<float> g{0.0f, 1.5f, -1.5f, 1.5000001f, -2.0f, 40.0f, std::nanf("")};
  Tensor gt = Tensor::from_vector(Shape{7}, g);
  Tensor count = Tensor::from_vector(Shape{7}, std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6});
  ltp_count_clamped(gt, 1.5f, count);
  CHECK(count.to_vector<int32_t>() == std::vector<int32_t>{0, 1, 2, 4, 5, 6, 6});
  ltp_count_clamped(gt, 0.0f, count);
  CHECK(count.to_vector<int32_t>() == std::vector<int32_t>{0, 1, 2, 4, 5, 6, 6});
  Tensor wrong = Tensor::zeros(Shape{7}, DType::f32);
  CHECK_THROWS_WITH(ltp_count_clamped(gt, 1.0f, wrong), Catch::Contains("ltp_count_clamped") && Catch::Contains("count"));
  Tensor short_count = Tensor::zeros(Shape{3}, DType::i32);
  CHECK_THROWS_WITH(ltp_count_clamped(gt, 1.0f, short_count), Catch::Contains("ltp_count_clamped") && Catch::Contains("count"));
}
