#include "core/shape.h"

namespace trim {

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(const std::vector<int64_t>& dims) {
  TRIM_CHECK(dims.size() <= size_t(kMaxDims),
             cat("a shape has at most ", kMaxDims, " dimensions, got ", dims.size()));
  nd_ = int(dims.size());
  for (int i = 0; i < nd_; ++i) {
    TRIM_CHECK(dims[i] >= 0, cat("negative dimension ", dims[i]));
    d_[i] = dims[i];
  }
}

int64_t Shape::operator[](int i) const {
  int j = i < 0 ? i + nd_ : i;
  TRIM_CHECK(j >= 0 && j < nd_, cat("dimension ", i, " out of range for shape ", str()));
  return d_[j];
}

int64_t Shape::numel() const {
  int64_t n = 1;
  bool overflow = false;
  for (int i = 0; i < nd_; ++i) overflow = __builtin_mul_overflow(n, d_[i], &n) || overflow;
  // A zero dimension makes the product 0 even when the others overflow.
  for (int i = 0; i < nd_; ++i)
    if (d_[i] == 0) return 0;
  TRIM_CHECK(!overflow, cat("shape ", str(), " has more than 2^63 - 1 elements"));
  return n;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < nd_; ++i) s += (i ? ", " : "") + std::to_string(d_[i]);
  return s + "]";
}

bool Shape::operator==(const Shape& o) const {
  if (nd_ != o.nd_) return false;
  for (int i = 0; i < nd_; ++i)
    if (d_[i] != o.d_[i]) return false;
  return true;
}

}  // namespace trim
