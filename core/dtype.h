#pragma once
#include <cstddef>
#include <cstdint>

#include "core/base.h"
#include "core/bf16.h"

namespace trim {

// Element types. f32 carries all math; i32 holds labels and indices; u8 holds images and masks;
// bf16 holds the inputs of convolutions and matrix products under the bf16 precision policy
// (they accumulate in f32). A new type needs an entry here and in the kernels that accept it.
enum class DType : uint8_t { f32, i32, u8, bf16 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::i32: return 4;
    case DType::u8: return 1;
    case DType::bf16: return 2;
  }
  return 0;
}

constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::i32: return "i32";
    case DType::u8: return "u8";
    case DType::bf16: return "bf16";
  }
  return "?";
}

template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::f32; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::i32; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct DTypeOf<bf16> { static constexpr DType value = DType::bf16; };
template <class T> constexpr DType dtype_of = DTypeOf<T>::value;

}  // namespace trim
