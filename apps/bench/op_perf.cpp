#include "apps/bench/op_perf.h"

#include <algorithm>
#include <chrono>
#include <span>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/ops/ops.h"

namespace trim::test {
namespace {

// A fresh non-leaf view of `leaf` whose gradient is dropped. Inside a network a layer's input
// comes from the layer before, so its gradient flows on to that layer's node; feeding a leaf
// instead would make autograd copy dx into leaf.grad(), work the real layer never does.
Tensor from_upstream(const Tensor& leaf) {
  Tensor x = leaf.detach();
  record(x, "bench_upstream", {&leaf}, [](std::span<const Tensor>, const GradRequest&) { return std::vector<Tensor>{Tensor()}; });
  return x;
}

}  // namespace

std::function<void()> timed_step(const OpCase& c, Device device) {
  std::vector<Tensor> inputs;
  for (const Tensor& host : make_inputs(c, 7)) {
    Tensor t = host.to(device);
    if (host.requires_grad()) t.set_requires_grad(true);
    inputs.push_back(t);
  }
  Tensor grad_out;
  {
    NoGradGuard no_grad;  // the output's shape, for its gradient
    std::vector<Tensor> in = inputs;
    grad_out = Tensor::empty(c.run(in).shape(), DType::f32, device);
  }
  normal_(grad_out, 0.0f, 1.0f);
  return [c, inputs, grad_out]() mutable {
    std::vector<Tensor> in = inputs;
    if (in[0].requires_grad()) in[0] = from_upstream(inputs[0]);
    Tensor out = c.run(in);
    if (out.requires_grad()) run_backward(out, grad_out);  // in-place rows (mul_) record nothing: forward only
    for (size_t k = 1; k < inputs.size(); ++k)
      if (inputs[k].requires_grad()) inputs[k].set_grad(Tensor());
  };
}

namespace {

// Per-step milliseconds of one timed run of `iters` steps, the device synchronised on both sides.
double timed_run(const std::function<void()>& step, Device device, int iters) {
  synchronize(device);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) step();
  synchronize(device);
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(t1 - t0).count() / iters;
}

Timing summarise(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  const size_t m = ms.size();
  const double median = m % 2 ? ms[m / 2] : 0.5 * (ms[m / 2 - 1] + ms[m / 2]);
  return {median, ms.front(), ms.back()};
}

}  // namespace

Timing time_steps(const std::function<void()>& step, Device device, int warmup, int iters, int repeats) {
  return time_interleaved({step}, device, warmup, iters, repeats).front();
}

std::vector<Timing> time_interleaved(const std::vector<std::function<void()>>& steps, Device device, int warmup,
                                     int iters, int repeats) {
  for (const auto& step : steps)
    for (int i = 0; i < warmup; ++i) step();
  std::vector<std::vector<double>> ms(steps.size());
  for (int r = 0; r < repeats; ++r)
    for (size_t s = 0; s < steps.size(); ++s) ms[s].push_back(timed_run(steps[s], device, iters));
  std::vector<Timing> out;
  for (auto& m : ms) out.push_back(summarise(std::move(m)));
  return out;
}

}  // namespace trim::test
