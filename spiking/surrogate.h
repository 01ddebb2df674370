#pragma once
// Surrogate gradients of spiking neurons (specs/spiking.md): the forward pass fires with the
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

// The forward firing rule.
TRIM_HD float heaviside(float x) { return x >= 0.0f ? 1.0f : 0.0f; }

}  // namespace trim::surrogate
