#include "layers/init.h"

#include <cmath>

#include "core/ops/elementwise.h"

namespace trim {

static int64_t receptive(const Tensor& w) {
  int64_t r = 1;
  for (int d = 2; d < w.ndim(); ++d) r *= w.size(d);
  return r;
}

int64_t fan_in(const Tensor& w) {
  TRIM_CHECK(w.ndim() >= 2, cat("fan_in of a tensor with shape ", w.shape().str()));
  return w.size(1) * receptive(w);
}

int64_t fan_out(const Tensor& w) {
  TRIM_CHECK(w.ndim() >= 2, cat("fan_out of a tensor with shape ", w.shape().str()));
  return w.size(0) * receptive(w);
}

void kaiming_normal_(Tensor& w, FanMode mode) {
  int64_t fan = mode == FanMode::fan_in ? fan_in(w) : fan_out(w);
  normal_(w, 0.0f, float(std::sqrt(2.0 / double(fan))));
}

void default_init_(Tensor& w, Tensor& bias) {
  float bound = float(1.0 / std::sqrt(double(fan_in(w))));
  uniform_(w, -bound, bound);
  if (bias.defined()) uniform_(bias, -bound, bound);
}

}  // namespace trim
