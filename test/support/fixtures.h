#pragma once
// Small shared test helpers.
#include <filesystem>
#include <string>
#include <vector>

#include "core/random/generator.h"
#include "core/tensor.h"

namespace trim::test {

// A fresh, empty directory under the system temp folder, removed when the object dies.
// A 1-d CPU leaf tensor that requires grad.
Tensor leaf(const std::vector<float>& values);
// A CPU tensor of standard normal values drawn from `g`.
Tensor randn(const Shape& s, Generator& g);

class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace trim::test
