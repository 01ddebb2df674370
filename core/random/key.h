#pragma once
#include <cstdint>

namespace trim {

// A reserved block of the counter-based random stream: element i of a draw uses Philox block
// offset + i / 4 under key seed (see philox.h). Generator::reserve hands them out; kernels take them.
struct RandomKey {
  uint64_t seed = 0;
  uint64_t offset = 0;
};

}  // namespace trim
