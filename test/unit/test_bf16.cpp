// bfloat16: the one conversion (core/bf16.h) against hand-computed bit patterns, the cast kernel,
// and bf16 tensors through safetensors.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "core/bf16.h"
#include "core/io/safetensors.h"
#include "core/kernels/kernels.h"
#include "core/tensor.h"

using namespace trim;

namespace {

uint16_t bits_of(float f) { return float_to_bf16(f).bits; }

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

TEST_CASE("bf16 rounds to nearest even, keeps NaN and overflows to infinity") {
  CHECK(bits_of(1.0f) == 0x3f80);
  CHECK(bits_of(-2.0f) == 0xc000);
  CHECK(bits_of(0.0f) == 0x0000);
  CHECK(bits_of(-0.0f) == 0x8000);
  // 1 + 2^-8 lies halfway between 1 (even mantissa) and 1 + 2^-7: ties go to the even one.
  CHECK(bits_of(from_bits(0x3f808000u)) == 0x3f80);
  // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up to the even one.
  CHECK(bits_of(from_bits(0x3f818000u)) == 0x3f82);
  // Just above and below the halfway point.
  CHECK(bits_of(from_bits(0x3f808001u)) == 0x3f81);
  CHECK(bits_of(from_bits(0x3f807fffu)) == 0x3f80);
  // The largest float rounds past the largest bf16 (0x7f7f) to infinity; infinity stays.
  CHECK(bits_of(std::numeric_limits<float>::max()) == 0x7f80);
  CHECK(bits_of(std::numeric_limits<float>::infinity()) == 0x7f80);
  CHECK(bits_of(-std::numeric_limits<float>::infinity()) == 0xff80);
  // A NaN whose payload sits only in the low bits must not become infinity.
  float nan_low = from_bits(0x7f800001u);
  CHECK(std::isnan(bf16_to_float(float_to_bf16(nan_low))));
  CHECK(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  // Subnormals round like any other value (no flush to zero).
  CHECK(bits_of(from_bits(0x00010000u)) == 0x0001);
  // Every bf16 converts back exactly.
  for (uint32_t b = 0; b < 0x10000u; b += 7) {
    bf16 h{uint16_t(b)};
    float f = bf16_to_float(h);
    if (!std::isnan(f)) CHECK(float_to_bf16(f).bits == h.bits);
  }
}

TEST_CASE("cast kernel converts f32 to bf16 and back on the CPU") {
  std::vector<float> v{1.0f, from_bits(0x3f808000u), from_bits(0x3f818000u), -3.14159265f, 1e-3f, 65504.0f};
  Tensor x = Tensor::from_vector(Shape{int64_t(v.size())}, v);
  Tensor h = Tensor::empty(x.shape(), DType::bf16);
  cpu::cast(x, h);
  std::vector<bf16> hb = h.to_vector<bf16>();
  for (size_t i = 0; i < v.size(); ++i) CHECK(hb[i].bits == bits_of(v[i]));
  Tensor back = Tensor::empty(x.shape(), DType::f32);
  cpu::cast(h, back);
  std::vector<float> b = back.to_vector<float>();
  for (size_t i = 0; i < v.size(); ++i) {
    CHECK(b[i] == bf16_to_float(hb[i]));
    CHECK(std::fabs(b[i] - v[i]) <= std::fabs(v[i]) * 0x1p-8f);  // half a bf16 ulp
  }
  Tensor filled = Tensor::empty(Shape{3}, DType::bf16);
  filled.fill_(0.5f);
  for (bf16 e : filled.to_vector<bf16>()) CHECK(e.bits == 0x3f00);
  CHECK(filled.narrow0(1, 1).item() == 0.5f);
}

TEST_CASE("bf16 tensors round-trip through safetensors as BF16") {
  namespace fs = std::filesystem;
  fs::path path = fs::temp_directory_path() / "trim_test_bf16.safetensors";
  std::vector<bf16> v{{0x3f80}, {0xc049}, {0x0001}, {0x7f80}};
  Tensor t = Tensor::from_vector(Shape{2, 2}, v);
  save_safetensors(path.string(), {{"w", t}});
  SafetensorsFile loaded = load_safetensors(path.string());
  const Tensor* w = loaded.find("w");
  REQUIRE(w != nullptr);
  REQUIRE(w->dtype() == DType::bf16);
  CHECK(w->shape() == Shape{2, 2});
  std::vector<bf16> back = w->to_vector<bf16>();
  for (size_t i = 0; i < v.size(); ++i) CHECK(back[i].bits == v[i].bits);
  fs::remove(path);
}
