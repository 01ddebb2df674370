// FastDiv (core/kernels/int_div.h), used by CUDA kernels to split flat indices: exact against
// integer division over the whole range it promises.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "core/kernels/int_div.h"

using trim::FastDiv;

TEST_CASE("FastDiv divides exactly for divisors and dividends below 2^31", "[kernels][int_div]") {
  std::vector<uint32_t> divisors{1, 2, 3, 5, 7, 10, 49, 64, 255, 256, 257, 1000, 3136, 50176, 65535, 65536,
                                 1000003, (1u << 30) - 1, 1u << 30, (1u << 30) + 1, (1u << 31) - 1};
  std::vector<uint32_t> dividends{0, 1, 2, 3, 100, 65535, 65536, 1u << 20, (1u << 30) - 1, 1u << 30,
                                  (1u << 31) - 2, (1u << 31) - 1};
  uint32_t s = 12345;
  for (int k = 0; k < 200; ++k) {
    s = s * 1664525u + 1013904223u;
    divisors.push_back((s >> 1) % ((1u << 31) - 1) + 1);
    s = s * 1664525u + 1013904223u;
    dividends.push_back(s >> 1);
  }
  int64_t wrong = 0;
  for (uint32_t d : divisors) {
    FastDiv f(d);
    auto check = [&](uint32_t n) {
      uint32_t q = f.div(n);
      if (q != n / d || f.mod(n, q) != n % d) ++wrong;
    };
    for (uint32_t n : dividends) check(n);
    for (uint32_t m : {1u, 2u, 1000u}) {  // around multiples of d
      uint64_t base = uint64_t(d) * m;
      for (int64_t e = -1; e <= 1; ++e)
        if (int64_t(base) + e >= 0 && uint64_t(int64_t(base) + e) < (1u << 31)) check(uint32_t(int64_t(base) + e));
    }
  }
  CHECK(wrong == 0);
  // A wrong magic number would fail here: consecutive dividends across every quotient step.
  FastDiv seven(7);
  for (uint32_t n = 0; n < 100000; ++n) REQUIRE(seven.div(n) == n / 7);
}
