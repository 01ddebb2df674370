#pragma once
// Division by a run-time constant without a divide instruction: q = (umulhi(n, m) + n) >> s, with
// m and s computed once per launch (Granlund & Montgomery; PyTorch's IntDivider uses the same
// scheme). Exact for divisors in [1, 2^31) and dividends in [0, 2^31). Memory-bound CUDA kernels
// that split a flat index into coordinates use it instead of 64-bit division, which the GPU
// emulates in dozens of instructions.
#include <cstdint>

#include "core/base.h"

namespace trim {

struct FastDiv {
  uint32_t divisor = 1, magic = 1, shift = 0;

  FastDiv() = default;
  explicit FastDiv(uint32_t d) : divisor(d) {
    shift = 0;
    while (shift < 32 && (uint64_t(1) << shift) < d) ++shift;
    magic = uint32_t((uint64_t(1) << 32) * ((uint64_t(1) << shift) - d) / d + 1);
  }

  TRIM_HD uint32_t div(uint32_t n) const {
#if defined(__CUDA_ARCH__)
    uint32_t t = __umulhi(n, magic);
#else
    uint32_t t = uint32_t((uint64_t(n) * magic) >> 32);
#endif
    return (t + n) >> shift;
  }
  TRIM_HD uint32_t mod(uint32_t n, uint32_t q) const { return n - q * divisor; }
};

}  // namespace trim
