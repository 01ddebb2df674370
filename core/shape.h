#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/base.h"

namespace trim {

// A tensor shape of 0..kMaxDims dimensions (0 dimensions = a scalar with one element).
// Five dimensions cover spiking activations [T, N, C, H, W].
class Shape {
 public:
  static constexpr int kMaxDims = 5;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);

  int ndim() const { return nd_; }
  // Size of dimension i; negative i counts from the end (-1 = last).
  int64_t operator[](int i) const;
  int64_t numel() const;
  std::vector<int64_t> vec() const { return std::vector<int64_t>(d_, d_ + nd_); }
  std::string str() const;  // "[2, 3, 4]"

  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }

 private:
  int64_t d_[kMaxDims] = {0, 0, 0, 0, 0};
  int nd_ = 0;
};

}  // namespace trim
