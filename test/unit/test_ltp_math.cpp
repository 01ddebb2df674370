// LTP's element-wise math (pruning/ltp_math.h): the oracles of pruning/README.md#ltp and finite differences.
#include <catch2/catch.hpp>

#include <vector>

#include "core/random/philox.h"
#include "pruning/ltp_math.h"

using namespace trim;

namespace {

const std::vector<float> kW = {0.25f, -0.5f, 0.75f};
const float kTau = 0.25f, kT0 = 1.5f;

// Loss of the FD checks: L = Σ c_k·v_k + (λ/Ntot)·Σ m_k, so ∂L_CE/∂v = c; T held fixed (no gradient
// flows through it, per the spec's choice).
double loss(const std::vector<double>& w, double tau, double temp, const std::vector<double>& c, double l0) {
  double l = 0.0;
  for (size_t k = 0; k < w.size(); ++k) {
    double m = ltp::soft_mask(w[k], tau, temp);
    l += c[k] * ltp::masked_weight(w[k], m) + l0 * m;
  }
  return l;
}

}  // namespace

TEST_CASE("LTP oracle 1: temperature, mask argument, mask and masked weight", "[pruning][ltp]") {
  double t = ltp::temperature(kW.data(), 3, kT0);
  CHECK(t == Approx(0.0625).margin(1e-12));  // 1.5 · 1/24
  const float temp = float(t);
  const float z[] = {-3, 0, 5}, m[] = {0.0474259f, 0.5f, 0.9933071f}, v[] = {0.0118565f, -0.25f, 0.7449804f};
  for (int k = 0; k < 3; ++k) {
    CHECK(ltp::mask_arg(kW[k], kTau, temp) == Approx(z[k]).margin(1e-6));
    float mk = ltp::soft_mask(kW[k], kTau, temp);
    CHECK(mk == Approx(m[k]).margin(1e-7));
    CHECK(ltp::masked_weight(kW[k], mk) == Approx(v[k]).margin(1e-7));
  }
}

TEST_CASE("LTP oracles 2 and 3: gradients and the soft L0 penalty", "[pruning][ltp]") {
  const float temp = 0.0625f;
  float tau_ce = 0, l0 = 0, l0_tau = 0, pen_tau = 0;
  for (int k = 0; k < 3; ++k) {
    float m = ltp::soft_mask(kW[k], kTau, temp);
    CHECK(ltp::grad_w(1.0f, m) == m);  // g = 1: grad_w = m
    tau_ce += ltp::grad_tau_term(1.0f, kW[k], m, temp, 0.0f);
    l0 += m;
    l0_tau += ltp::grad_tau_term(0.0f, kW[k], m, temp, 1.0f);
    pen_tau += ltp::grad_tau_term(0.0f, kW[k], m, temp, 1.0f / 3.0f);  // λ = 1, Ntot = 3
  }
  CHECK(tau_ce == Approx(1.7395167).margin(1e-6));
  CHECK(l0 == Approx(1.5407330).margin(1e-6));
  CHECK(l0_tau == Approx(-4.8291955).margin(1e-6));
  CHECK(pen_tau == Approx(-1.6097318).margin(1e-6));
}

TEST_CASE("LTP oracles 4 to 6: hard mask, scale invariance, transition band", "[pruning][ltp]") {
  CHECK_FALSE(ltp::hard_keep(kW[0], kTau));
  CHECK_FALSE(ltp::hard_keep(kW[1], kTau));  // w² = τ exactly: dropped
  CHECK(ltp::hard_keep(kW[2], kTau));
  std::vector<float> w2 = {0.5f, -1.0f, 1.5f};
  float t2 = float(ltp::temperature(w2.data(), 3, kT0));
  CHECK(t2 == Approx(0.25).margin(1e-7));
  int band = 0;
  for (int k = 0; k < 3; ++k) {
    CHECK(ltp::soft_mask(w2[k], 1.0f, t2) == Approx(ltp::soft_mask(kW[k], kTau, 0.0625f)).margin(1e-7));
    band += ltp::in_transition_band(ltp::mask_arg(kW[k], kTau, 0.0625f));
  }
  CHECK(band == 2);
  // The sigmoid does not overflow far outside the band.
  CHECK(ltp::sigmoid(-200.0f) >= 0.0f);
  CHECK(ltp::sigmoid(-200.0f) < 1e-30f);
  CHECK(ltp::sigmoid(200.0f) == 1.0f);
}

TEST_CASE("LTP oracle 7: the τ-gradient matches finite differences, eq. 14 deliberately does not", "[pruning][ltp]") {
  const int n = 16;
  std::vector<double> w(n), c(n);
  for (int k = 0; k < n; ++k) {
    w[size_t(k)] = 0.4 * double(philox::normal(31, 0, k));
    c[size_t(k)] = double(philox::normal(32, 0, k));
  }
  std::vector<float> wf(w.begin(), w.end());
  const double temp = ltp::temperature(wf.data(), n, 2.0), tau = 0.05, l0 = 0.3, h = 1e-6;
  double g_tau = 0.0;
  for (int k = 0; k < n; ++k) {
    double m = ltp::soft_mask(w[size_t(k)], tau, temp);
    g_tau += ltp::grad_tau_term(c[size_t(k)], w[size_t(k)], m, temp, l0);
  }
  double fd_tau = (loss(w, tau + h, temp, c, l0) - loss(w, tau - h, temp, c, l0)) / (2 * h);
  CHECK(g_tau == Approx(fd_tau).epsilon(1e-6));
  int approx_far = 0;
  for (int k = 0; k < n; ++k) {
    std::vector<double> wp = w, wm = w;
    wp[size_t(k)] += h;
    wm[size_t(k)] -= h;
    double fd = (loss(wp, tau, temp, c, l0) - loss(wm, tau, temp, c, l0)) / (2 * h);
    double m = ltp::soft_mask(w[size_t(k)], tau, temp);
    CHECK(ltp::grad_w_exact(c[size_t(k)], w[size_t(k)], m, temp, l0) == Approx(fd).epsilon(1e-5).margin(1e-8));
    approx_far += std::fabs(ltp::grad_w(c[size_t(k)], m) - fd) > 1e-3 * (1 + std::fabs(fd));
  }
  CHECK(approx_far > n / 2);  // the through-mask terms are large inside the band
}
