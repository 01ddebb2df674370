#pragma once
#include <cstdint>
#include <vector>

#include "core/random/key.h"

namespace trim {

// A seeded position in the Philox stream. Each random draw reserves the blocks it consumes, so a
// run's random numbers depend only on the seed and the order of draws, never on the device or the
// thread count. Its whole state is (seed, offset): checkpoints save both.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  // Reserves the blocks for n elements and returns where they start.
  RandomKey reserve(int64_t n);
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed, offset_ = offset; }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide generator used by initialisation and dropout (seeded by the app).
Generator& default_generator();

// A uniformly random permutation of 0..n-1 (Fisher-Yates), a pure function of (seed, stream).
std::vector<int64_t> random_permutation(int64_t n, uint64_t seed, uint64_t stream);

}  // namespace trim
