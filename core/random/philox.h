#pragma once
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
// counter-based generator. Every random number is a pure function of (key, counter), so CPU loops
// and CUDA threads produce the same numbers for the same seed, in any order, on any thread count.
#include <cmath>
#include <cstdint>

#include "core/base.h"

namespace trim::philox {

struct Block {
  uint32_t v[4];
};

TRIM_HD void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
}

// Four 32-bit random words for the 128-bit counter (c0..c3) under the 64-bit key.
TRIM_HD Block generate(uint64_t key, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3) {
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  uint32_t x0 = c0, x1 = c1, x2 = c2, x3 = c3;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, x0, hi0, lo0);
    mulhilo(0xCD9E8D57u, x2, hi1, lo1);
    uint32_t y0 = hi1 ^ x1 ^ k0, y1 = lo1, y2 = hi0 ^ x3 ^ k1, y3 = lo0;
    x0 = y0, x1 = y1, x2 = y2, x3 = y3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{x0, x1, x2, x3}};
}

// Random word `lane` (0..3) of block number `block` in stream `stream`.
TRIM_HD uint32_t word(uint64_t seed, uint64_t block, uint32_t lane, uint64_t stream = 0) {
  Block b = generate(seed, uint32_t(block), uint32_t(block >> 32), uint32_t(stream), uint32_t(stream >> 32));
  return b.v[lane & 3];
}

// Uniform float in [0, 1) with 24 random bits; exact, so identical on every device.
TRIM_HD float to_unit(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }

// Element i of a draw starting at block `offset`: one word per element, four per block.
TRIM_HD float uniform(uint64_t seed, uint64_t offset, int64_t i) {
  return to_unit(word(seed, offset + uint64_t(i) / 4, uint32_t(i % 4)));
}

// Standard normal for element i (Box-Muller on the block's word pairs (0,1) and (2,3)). Computed
// in double and rounded once, so CPU and GPU agree to the last bit in all but vanishing cases.
TRIM_HD float normal(uint64_t seed, uint64_t offset, int64_t i) {
  Block b = generate(seed, uint32_t(offset + uint64_t(i) / 4), uint32_t((offset + uint64_t(i) / 4) >> 32), 0, 0);
  int lane = int(i % 4), pair = lane / 2;
  double u1 = (double(b.v[2 * pair] >> 8) + 1.0) * (1.0 / 16777216.0);  // (0, 1]: log is finite
  double u2 = double(b.v[2 * pair + 1] >> 8) * (1.0 / 16777216.0);
  double r = sqrt(-2.0 * log(u1));
  const double two_pi = 6.283185307179586476925286766559;
  return float(lane % 2 == 0 ? r * cos(two_pi * u2) : r * sin(two_pi * u2));
}

// Philox blocks consumed by a draw of n elements.
TRIM_HD uint64_t blocks_for(int64_t n) { return (uint64_t(n) + 3) / 4; }

}  // namespace trim::philox
