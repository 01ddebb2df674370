#pragma once
// Global gradient-norm clipping with PyTorch's clip_grad_norm_ semantics, computed where the
// gradients live so the step needs no host synchronisation:
//   norm = ||g||_2 over all n elements,  scale = min(1, max_norm / (norm + 1e-6)).
// The step multiplies every gradient by `scale` (SgdScalars::grad_scale) as it reads it. The sum of
// squares is accumulated in double, in an order fixed by n alone (deterministic, and the same for
// any thread count).
#include <cstdint>

namespace trim {

// g, scale and norm in host memory; norm may be null.
void grad_clip_scale_cpu(const float* g, int64_t n, float max_norm, float* scale, float* norm);

// g, scale and norm (may be null) in device memory; `partials` is device scratch of
// kGradClipPartials doubles. Two launches on the current stream; nothing waits for them.
constexpr int kGradClipPartials = 1024;
void grad_clip_scale_cuda(const float* g, int64_t n, float max_norm, float* scale, float* norm, double* partials);

// The scale from the norm, shared by both backends.
inline float grad_clip_scale_from_norm(double norm, float max_norm) {
  double s = double(max_norm) / (norm + 1e-6);
  return s < 1.0 ? float(s) : 1.0f;
}

}  // namespace trim
