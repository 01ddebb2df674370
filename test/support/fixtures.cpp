#include "test/support/fixtures.h"

#include <unistd.h>

#include <atomic>

#include "core/ops/elementwise.h"

namespace trim::test {

Tensor randn(const Shape& s, Generator& g) {
  Tensor t = Tensor::empty(s);
  normal_(t, 0.0f, 1.0f, g);
  return t;
}

Tensor leaf(const std::vector<float>& values) {
  Tensor t = Tensor::from_vector(Shape{int64_t(values.size())}, values);
  t.set_requires_grad(true);
  return t;
}

TempDir::TempDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          ("trim-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace trim::test
