#include "core/random/generator.h"

#include "core/error.h"
#include "core/random/philox.h"

namespace trim {
namespace {
thread_local uint64_t t_draws = 0;
}

uint64_t thread_random_draws() { return t_draws; }

RandomKey Generator::reserve(int64_t n) {
  ++t_draws;
  RandomKey k{seed_, offset_};
  if (capture_base_) {
    k.offset = offset_ - capture_start_;  // relative to the word a replay reads
    k.base = capture_base_;
    ++capture_draws_;
  }
  offset_ += philox::blocks_for(n);
  return k;
}

void Generator::begin_capture(const uint64_t* device_base) {
  TRIM_CHECK(device_base != nullptr && capture_base_ == nullptr,
             "Generator::begin_capture: needs a device word, and one capture at a time");
  capture_base_ = device_base;
  capture_start_ = offset_;
  capture_draws_ = 0;
}

Generator::Captured Generator::end_capture() {
  TRIM_CHECK(capture_base_ != nullptr, "Generator::end_capture: no capture in progress");
  Captured c{offset_ - capture_start_, capture_draws_};
  offset_ = capture_start_;
  capture_base_ = nullptr;
  capture_draws_ = 0;
  return c;
}

Generator& default_generator() {
  static Generator g(0);
  return g;
}

std::vector<int64_t> random_permutation(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  // Swap i with a uniform j in [0, i]: 64 random bits scaled by multiply-shift (bias < 2^-32).
  uint64_t block = 0;
  for (int64_t i = n - 1; i > 0; --i, ++block) {
    philox::Block b = philox::generate(seed, uint32_t(block), uint32_t(block >> 32), uint32_t(stream),
                                       uint32_t(stream >> 32) | 0x80000000u);
    uint64_t r = (uint64_t(b.v[0]) << 32) | b.v[1];
    auto j = int64_t((static_cast<unsigned __int128>(r) * uint64_t(i + 1)) >> 64);
    std::swap(p[size_t(i)], p[size_t(j)]);
  }
  return p;
}

}  // namespace trim
