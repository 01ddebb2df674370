// The spiking kernels on CUDA agree with their CPU twins: every neuron variant (Theta and smooth
// forward), time folding, SEW connect, spike_fn, PLIF's w-gradient reduction over many blocks
// (deterministic from run to run), and the modules' device-side firing rate.
#include <catch2/catch.hpp>

#include "core/ops/ops.h"
#include "core/random/philox.h"
#include "spiking/neuron_layer.h"
#include "test/support/gradcheck.h"
#include "test/support/neuron_cases.h"

using namespace trim;
using namespace trim::spiking;
using namespace trim::test;

namespace {

void compare_case(const OpCase& c) {
  std::vector<Tensor> inputs = make_inputs(c, 11);
  CaseResult cpu = run_case(c, inputs, Device::cpu());
  CaseResult gpu = run_case(c, inputs, Device::cuda(0));
  INFO(c.name);
  // expf / atanf differ by an ulp or so between the CUDA and glibc math libraries.
  CHECK(mismatch(gpu.output, cpu.output, 1e-5, 1e-5) <= 1.0);
  for (size_t k = 0; k < inputs.size(); ++k) {
    INFO("input " << k);
    CHECK(mismatch(gpu.grads[k], cpu.grads[k], 1e-5, 1e-4) <= 1.0);
  }
}

Tensor random_tensor(const Shape& s, uint64_t seed, float mean, float stddev) {
  std::vector<float> v(size_t(s.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = mean + stddev * philox::normal(seed, 0, int64_t(i));
  return Tensor::from_vector(s, v);
}

}  // namespace

TEST_CASE("CUDA neurons match the CPU for every variant", "[cuda][spiking]") {
  for (bool smooth : {false, true})
    for (const OpCase& c : neuron_op_cases(smooth)) {
      SECTION(c.name + (smooth ? " (smooth)" : "")) { compare_case(c); }
    }
}

TEST_CASE("CUDA time folding and SEW connect match the CPU", "[cuda][spiking]") {
  for (const OpCase& c : spiking_op_cases()) {
    SECTION(c.name) { compare_case(c); }
  }
}

TEST_CASE("CUDA spike_fn matches the CPU", "[cuda][spiking]") {
  Tensor h = random_tensor(Shape{3, 1000}, 5, 1.0f, 0.5f);
  Tensor g = random_tensor(Shape{3, 1000}, 6, 0.0f, 1.0f);
  surrogate::Surrogate sg{surrogate::Kind::sigmoid, 4.0f};
  std::vector<std::vector<float>> out;
  for (Device d : {Device::cpu(), Device::cuda(0)}) {
    Tensor hd = h.to(d).clone();
    hd.set_requires_grad(true);
    Tensor s = spike_fn(hd, 1.0f, sg);
    sum(mul(s, g.to(d))).backward();
    out.push_back(s.to_vector<float>());
    out.push_back(hd.grad().to_vector<float>());
  }
  CHECK(out[2] == out[0]);
  CHECK(mismatch(out[3], out[1], 1e-6, 1e-5) <= 1.0);
}

TEST_CASE("CUDA PLIF w-gradient: many blocks, deterministic, equal to the CPU", "[cuda][spiking]") {
  // 2 x 300007 neurons: more than the reduction's 1024 x 256 threads, so threads loop; odd count.
  Tensor x = random_tensor(Shape{4, 2, 300007}, 21, 1.2f, 1.0f);
  for (bool detach : {false, true}) {
    NeuronConfig c;
    c.kind = NeuronKind::plif;
    c.detach_reset = detach;
    c.surrogate = {surrogate::Kind::atan, 2.0f};
    auto grad_w = [&](Device d) {
      Tensor w = Tensor::full(Shape{1}, 0.4f, DType::f32, d);
      w.set_requires_grad(true);
      Tensor xd = x.to(d).clone();
      xd.set_requires_grad(true);
      Tensor g = random_tensor(x.shape(), 22, 0.0f, 1.0f).to(d);
      sum(mul(neuron_forward(xd, c, Tensor(), w).spikes, g)).backward();
      return std::pair<float, std::vector<float>>{w.grad().item(), xd.grad().to_vector<float>()};
    };
    auto cpu = grad_w(Device::cpu());
    auto gpu = grad_w(Device::cuda(0));
    auto gpu2 = grad_w(Device::cuda(0));
    INFO("detach " << detach);
    CHECK(gpu.first == gpu2.first);  // bit for bit
    CHECK(gpu.first == Approx(cpu.first).epsilon(1e-4));
    CHECK(mismatch(gpu.second, cpu.second, 1e-5, 1e-4) <= 1.0);
  }
}

TEST_CASE("CUDA neuron modules: PLIF after to(), firing rate on the device", "[cuda][spiking]") {
  NeuronConfig cfg;
  cfg.surrogate = {surrogate::Kind::atan, 2.0f};
  PLIFNode cpu(cfg), gpu(cfg);
  gpu.to(Device::cuda(0));
  CHECK(gpu.w.is_cuda());
  Tensor x = random_tensor(Shape{4, 8, 16, 5, 5}, 3, 1.0f, 1.0f);
  Tensor gx = x.to(Device::cuda(0));
  sum(cpu(x)).backward();
  sum(gpu(gx)).backward();
  CHECK(gpu.firing_rate().is_cuda());
  CHECK(gpu.firing_rate().item() == Approx(cpu.firing_rate().item()).epsilon(1e-6));
  CHECK(gpu.w.grad().item() == Approx(cpu.w.grad().item()).epsilon(1e-4));
}
