// LTP's soft-mask kernels (pruning/ltp_kernels.cu) against their CPU twins: temperature, the fused
// forward (v, soft L0, ∂L0/∂τ), the fused backward (grad_w overwritten and accumulated, grad_τ),
// the penalty's τ-gradient through autograd, and bit-identical repeats of the device reductions.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "core/ops/ops.h"
#include "core/random/philox.h"
#include "pruning/ltp_kernels.h"
#include "pruning/ltp_math.h"
#include "pruning/ltp_op.h"

using namespace trim;

namespace {

const Device kGpu = Device::cuda(0);

std::vector<float> random_w(int64_t n, uint64_t seed, float s) {
  std::vector<float> w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) w[size_t(i)] = s * philox::normal(seed, 0, i);
  return w;
}

void check_close(const std::vector<float>& gpu, const std::vector<float>& cpu, double atol, double rtol) {
  REQUIRE(gpu.size() == cpu.size());
  for (size_t i = 0; i < gpu.size(); ++i) {
    INFO("element " << i);
    REQUIRE(std::fabs(double(gpu[i]) - double(cpu[i])) <= atol + rtol * std::fabs(double(cpu[i])));
  }
}

struct Result {
  std::vector<float> temp, v, l0, gw, gtau;
};

// Forward and backward of L = Σ c·v + k·L0 through the op on `device`.
Result run(const std::vector<float>& w, const std::vector<float>& c, float tau0, double t0, Device device) {
  const int64_t n = int64_t(w.size());
  Tensor wt = Tensor::from_vector(Shape{n}, w).to(device);
  wt.set_requires_grad(true);
  Tensor tau = Tensor::from_vector(Shape{1}, std::vector<float>{tau0}).to(device);
  tau.set_requires_grad(true);
  Tensor temp = ltp_temperature(wt, t0);
  LtpMasked r = ltp_mask_l0(wt, tau, temp);
  Tensor ct = Tensor::from_vector(Shape{n}, c).to(device);
  add(sum(mul(r.v, ct)), scale(r.l0, 0.3f)).backward();
  return {temp.to_vector<float>(), r.v.to_vector<float>(), r.l0.to_vector<float>(), wt.grad().to_vector<float>(),
          tau.grad().to_vector<float>()};
}

}  // namespace

TEST_CASE("ltp mask op on CUDA equals the CPU: temperature, v, soft L0, grad_w and grad_tau", "[cuda][pruning][ltp]") {
  for (int64_t n : {int64_t(1), int64_t(3), int64_t(1000), int64_t(300001), int64_t(2359296)}) {
    INFO("n = " << n);
    std::vector<float> w = random_w(n, 51, 0.05f), c = random_w(n, 52, 1e-3f);
    Result cpu = run(w, c, 1e-3f, 2.0, Device::cpu()), gpu = run(w, c, 1e-3f, 2.0, kGpu);
    check_close(gpu.temp, cpu.temp, 0.0, 1e-6);
    check_close(gpu.v, cpu.v, 1e-7, 1e-5);
    check_close(gpu.gw, cpu.gw, 1e-9, 1e-5);
    check_close(gpu.l0, cpu.l0, 1e-3, 1e-5);
    // grad_τ sums terms of both signs: compare against the scale of the summands.
    double scale = 0.0;
    {
      const float temp = cpu.temp[0];
      for (int64_t i = 0; i < n; ++i) {
        float m = ltp::soft_mask(w[size_t(i)], 1e-3f, temp);
        scale += std::fabs(double(ltp::grad_tau_term(c[size_t(i)], w[size_t(i)], m, temp, 0.3f)));
      }
    }
    CHECK(std::fabs(double(gpu.gtau[0]) - double(cpu.gtau[0])) <= 1e-5 * scale + 1e-6);
  }
}

TEST_CASE("ltp kernels on CUDA: grad_w accumulates with beta, and the reductions repeat bit for bit", "[cuda][pruning][ltp]") {
  const int64_t n = 500003;
  std::vector<float> w = random_w(n, 53, 0.05f), g = random_w(n, 54, 1e-3f), old = random_w(n, 55, 1.0f);
  auto kernels = [&](Device d, float beta) {
    ltp::MaskBackwardArgs b;
    b.w = Tensor::from_vector(Shape{n}, w).to(d);
    b.g = Tensor::from_vector(Shape{n}, g).to(d);
    b.tau = Tensor::from_vector(Shape{1}, std::vector<float>{2e-3f}).to(d);
    b.temp = ltp_temperature(b.w, 1.0);
    b.gw = Tensor::from_vector(Shape{n}, old).to(d);
    b.beta = beta;
    b.gtau = Tensor::empty(Shape{1}, DType::f32, d);
    ltp::MaskForwardArgs f;
    f.w = b.w;
    f.tau = b.tau;
    f.temp = b.temp;
    f.v = Tensor::empty(Shape{n}, DType::f32, d);
    f.l0 = Tensor::empty(Shape{}, DType::f32, d);
    f.dl0 = Tensor::empty(Shape{1}, DType::f32, d);
    if (d.is_cuda()) {
      cuda::ltp_mask_backward(b);
      cuda::ltp_mask_forward(f);
    } else {
      cpu::ltp_mask_backward(b);
      cpu::ltp_mask_forward(f);
    }
    return std::vector<std::vector<float>>{b.gw.to_vector<float>(), b.gtau.to_vector<float>(), f.l0.to_vector<float>(),
                                           f.dl0.to_vector<float>(), f.v.to_vector<float>()};
  };
  for (float beta : {0.0f, 1.0f}) {
    auto cpu_r = kernels(Device::cpu(), beta), gpu_r = kernels(kGpu, beta), again = kernels(kGpu, beta);
    check_close(gpu_r[0], cpu_r[0], 1e-9, 1e-6);  // beta·old + g·m
    CHECK(gpu_r == again);                         // fixed grids and trees: deterministic
    check_close(gpu_r[2], cpu_r[2], 1e-2, 1e-5);
    check_close(gpu_r[3], cpu_r[3], 0.0, 1e-4);
  }
}

TEST_CASE("ltp soft L0 alone on CUDA: the penalty's tau-gradient equals the CPU", "[cuda][pruning][ltp]") {
  std::vector<float> w = random_w(4099, 56, 0.05f);
  auto grad = [&](Device d) {
    Tensor wt = Tensor::from_vector(Shape{4099}, w).to(d);
    Tensor tau = Tensor::from_vector(Shape{1}, std::vector<float>{1.5e-3f}).to(d);
    tau.set_requires_grad(true);
    scale(ltp_mask_l0(wt, tau, ltp_temperature(wt, 1.5)).l0, 0.25f).backward();
    return tau.grad().item();
  };
  CHECK(grad(kGpu) == Approx(grad(Device::cpu())).epsilon(1e-5));
}

TEST_CASE("ltp clamp counter on CUDA equals the CPU and counts exactly where the step's clamp binds", "[cuda][pruning][ltp]") {
  // At ±clip exactly the clamp changes nothing; beyond it, it binds; clip 0 is no clamp.
  const float clip = 2.0f;
  std::vector<float> g{0.0f, 1.0f, -1.0f, 2.0f, -2.0f, 2.0001f, -2.0001f, 300.0f, -1e30f, 1e-30f};
  const int64_t n = int64_t(g.size());
  std::vector<int32_t> start(g.size());
  for (size_t i = 0; i < start.size(); ++i) start[i] = int32_t(i * 7);
  for (float c : {clip, 0.0f}) {
    INFO("clip " << c);
    std::vector<std::vector<int32_t>> got;
    for (Device d : {Device::cpu(), kGpu}) {
      Tensor gt = Tensor::from_vector(Shape{n}, g).to(d);
      Tensor count = Tensor::from_vector(Shape{n}, start).to(d);
      ltp_count_clamped(gt, c, count);
      ltp_count_clamped(gt, c, count);  // accumulates
      got.push_back(count.to_vector<int32_t>());
    }
    CHECK(got[0] == got[1]);
    for (size_t i = 0; i < g.size(); ++i) {
      INFO("element " << i << " g = " << g[i]);
      const bool binds = c > 0.0f && std::fabs(g[i]) > c;
      CHECK(got[1][i] == start[i] + (binds ? 2 : 0));
    }
  }
}
