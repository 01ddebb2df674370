#pragma once
// Surrogate gradients of spiking neurons (spiking/README.md#surrogates): the forward pass fires with the
// Heaviside step Theta(x) (Theta(0) = 1); backward replaces Theta'(x) with the derivative of a
// smooth g(x), evaluated at x = H - V_th.
#include <cmath>

#include "core/base.h"

namespace trim::surrogate {

// Sigmoid(alpha): g(x) = sigma(alpha x), g'(x) = alpha sigma(alpha x) (1 - sigma(alpha x)). SpikingJelly's default alpha = 4.
struct Sigmoid {
  float alpha = 4.0f;
  TRIM_HD float g(float x) const { return 1.0f / (1.0f + expf(-alpha * x)); }
  TRIM_HD float grad(float x) const {
    float s = g(x);
    return alpha * s * (1.0f - s);
  }
};

// ATan(alpha): g(x) = atan(pi/2 alpha x) / pi + 1/2, g'(x) = (alpha/2) / (1 + (pi/2 alpha x)^2). SEW ResNet uses alpha = 2.
struct ATan {
  float alpha = 2.0f;
  TRIM_HD float g(float x) const { return atanf(1.57079632679f * alpha * x) * 0.318309886184f + 0.5f; }
  TRIM_HD float grad(float x) const {
    float u = 1.57079632679f * alpha * x;
    return 0.5f * alpha / (1.0f + u * u);
  }
};

// Piecewise linear derivative (SpikingJelly's PiecewiseQuadratic): g'(x) = max(0, alpha - alpha^2 |x|),
// a triangle of height alpha on |x| < 1/alpha; g(x) = 0 below, 1 above, and
// -alpha^2 x |x| / 2 + alpha x + 1/2 in between. Default alpha = 1 (g'(0) = 1, like the others).
struct PiecewiseLinear {
  float alpha = 1.0f;
  TRIM_HD float g(float x) const {
    float w = 1.0f / alpha;
    if (x < -w) return 0.0f;
    if (x > w) return 1.0f;
    return -0.5f * alpha * alpha * x * fabsf(x) + alpha * x + 0.5f;
  }
  TRIM_HD float grad(float x) const {
    float d = alpha - alpha * alpha * fabsf(x);
    return d > 0.0f ? d : 0.0f;
  }
};

// The forward firing rule.
TRIM_HD float heaviside(float x) { return x >= 0.0f ? 1.0f : 0.0f; }

enum class Kind : int { sigmoid, atan, piecewise_linear };

// A surrogate chosen at run time (by name in JSON); passed by value into kernels.
struct Surrogate {
  Kind kind = Kind::sigmoid;
  float alpha = 4.0f;
  TRIM_HD float g(float x) const {
    switch (kind) {
      case Kind::atan: return ATan{alpha}.g(x);
      case Kind::piecewise_linear: return PiecewiseLinear{alpha}.g(x);
      default: return Sigmoid{alpha}.g(x);
    }
  }
  TRIM_HD float grad(float x) const {
    switch (kind) {
      case Kind::atan: return ATan{alpha}.grad(x);
      case Kind::piecewise_linear: return PiecewiseLinear{alpha}.grad(x);
      default: return Sigmoid{alpha}.grad(x);
    }
  }
};

// The default alpha of each surrogate: Sigmoid 4, ATan 2, piecewise linear 1.
constexpr float default_alpha(Kind k) { return k == Kind::sigmoid ? 4.0f : k == Kind::atan ? 2.0f : 1.0f; }

}  // namespace trim::surrogate
