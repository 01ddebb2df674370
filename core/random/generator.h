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
  // Moves the offset past `blocks` blocks, as draws of that many blocks would.
  void advance(uint64_t blocks) { offset_ += blocks; }

  // A CUDA graph capture (core/optim/step_graph.h). Until end_capture(), reserve() hands out keys
  // relative to the device word `device_base` (RandomKey::base) instead of absolute offsets, so a
  // replay draws from wherever that word says. end_capture() returns what the captured region
  // reserved and puts the offset back where begin_capture() found it (nothing ran while capturing).
  struct Captured {
    uint64_t blocks = 0;  // blocks the region reserves per replay
    uint64_t draws = 0;   // reserve() calls
  };
  void begin_capture(const uint64_t* device_base);
  Captured end_capture();
  bool capturing() const { return capture_base_ != nullptr; }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
  const uint64_t* capture_base_ = nullptr;  // while capturing
  uint64_t capture_start_ = 0, capture_draws_ = 0;
};

// The process-wide generator used by initialisation and dropout (seeded by the app).
Generator& default_generator();

// How many times the calling thread has reserved random numbers from any Generator. A captured step
// may draw only from the capturing generator (its keys follow a device word); a draw from another
// one would be repeated by every replay, so core/optim/step_graph.h compares this count with
// Generator::Captured::draws.
uint64_t thread_random_draws();

// A uniformly random permutation of 0..n-1 (Fisher-Yates), a pure function of (seed, stream).
std::vector<int64_t> random_permutation(int64_t n, uint64_t seed, uint64_t stream);

}  // namespace trim
