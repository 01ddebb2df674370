#pragma once
// bfloat16: the top 16 bits of an IEEE float (8 exponent bits, 7 mantissa bits). The one
// conversion of trim, for host and device code alike: every kernel, the fused SGD step and the
// safetensors reader round through these two functions.
#include <cstdint>
#include <cstring>

#include "core/base.h"

namespace trim {

struct bf16 {
  uint16_t bits = 0;
};

// Round to nearest, ties to even (what oneDNN, cuDNN and PyTorch do). NaN stays NaN (made quiet,
// sign kept); values past the largest bf16 round to infinity, as IEEE rounding requires.
TRIM_HD bf16 float_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x0040u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{uint16_t(u >> 16)};
}

TRIM_HD float bf16_to_float(bf16 h) {
  uint32_t u = uint32_t(h.bits) << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

}  // namespace trim
