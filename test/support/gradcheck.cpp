#include "test/support/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/autograd/grad_mode.h"
#include "core/ops/ops.h"
#include "core/random/philox.h"

namespace trim::test {
namespace {

std::vector<float> loss_weights(int64_t n) {
  std::vector<float> w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) w[size_t(i)] = philox::normal(777, 0, i);
  return w;
}

double weighted_sum(const Tensor& out, const std::vector<float>& w) {
  std::vector<float> v = out.to_vector<float>();
  double s = 0.0;
  for (size_t i = 0; i < v.size(); ++i) s += double(v[i]) * double(w[i]);
  return s;
}

std::vector<Tensor> to_device(const std::vector<Tensor>& inputs, Device device) {
  std::vector<Tensor> out;
  for (const Tensor& t : inputs) {
    Tensor d = t.to(device).clone();  // fresh leaves: ops may update inputs in place
    if (t.requires_grad()) d.set_requires_grad(true);
    out.push_back(d);
  }
  return out;
}

}  // namespace

CaseResult run_case(const OpCase& c, const std::vector<Tensor>& inputs, Device device) {
  std::vector<Tensor> in = to_device(inputs, device);
  Tensor out = c.run(in);
  std::vector<float> w = loss_weights(out.numel());
  Tensor loss = sum(mul(out, Tensor::from_vector(out.shape(), w, device)));
  if (loss.requires_grad()) loss.backward();  // in-place ops are not recorded
  CaseResult r;
  r.output = out.to_vector<float>();
  for (const Tensor& t : in) {
    r.grads.push_back(t.requires_grad() && t.grad().defined() ? t.grad().to_vector<float>() : std::vector<float>{});
    r.inputs.push_back(t.dtype() == DType::f32 ? t.to_vector<float>() : std::vector<float>{});
  }
  return r;
}

double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double d = 0.0, n = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    d += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
    n += double(b[i]) * double(b[i]);
  }
  if (!(d == d)) return INFINITY;
  return n > 0.0 ? std::sqrt(d / n) : std::sqrt(d);
}

double mismatch(const std::vector<float>& a, const std::vector<float>& b, double atol, double rtol) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(double(a[i]) - double(b[i])) / (atol + rtol * std::fabs(double(b[i])));
    if (std::isnan(d)) return INFINITY;  // a NaN on either side never agrees
    worst = std::max(worst, d);
  }
  return worst;
}

std::string check_finite_differences(const OpCase& c, int samples) {
  std::vector<Tensor> inputs = make_inputs(c, 42);
  CaseResult analytic = run_case(c, inputs, Device::cpu());
  std::vector<float> w = loss_weights(int64_t(analytic.output.size()));
  NoGradGuard no_grad;
  std::ostringstream worst;
  double worst_ratio = 1.0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!c.inputs[k].grad) continue;
    const std::vector<float>& g = analytic.grads[k];
    int64_t n = inputs[k].numel();
    if (int64_t(g.size()) != n) return "input " + std::to_string(k) + " has no analytic gradient";
    for (int s = 0; s < std::min<int64_t>(samples, n); ++s) {
      int64_t i = n <= samples ? s : int64_t(philox::uniform(99, k, s) * float(n)) % n;
      // Fresh copies each time: ops such as batch norm update some inputs in place.
      std::vector<Tensor> plus, minus;
      for (const Tensor& t : inputs) plus.push_back(t.clone()), minus.push_back(t.clone());
      float* p = plus[k].data<float>();
      float* m = minus[k].data<float>();
      p[i] += c.fd_step;
      m[i] -= c.fd_step;
      double lp = weighted_sum(c.run(plus), w), lm = weighted_sum(c.run(minus), w);
      double step = double(p[i]) - double(m[i]);  // the step actually taken in float
      double fd = (lp - lm) / step, an = g[size_t(i)];
      double ratio = std::fabs(fd - an) / (5e-4 + 2e-3 * std::fabs(an));
      if (!(ratio <= worst_ratio)) {
        worst_ratio = ratio;
        worst.str("");
        worst << "input " << k << " element " << i << ": analytic " << an << ", finite difference " << fd;
      }
    }
  }
  return worst.str();
}

}  // namespace trim::test
