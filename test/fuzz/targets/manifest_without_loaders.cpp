// The manifest fuzz target parses manifests; it never loads a data set. The data-set registry
// (data/datasets.cpp) refers to the loaders, whose decoders (zlib, libjpeg-turbo, libpng) and
// tensors this small target does not link: these definitions stand in for them and abort if a
// fuzz input ever reached one, which would be a bug of the target itself.
#include <cstdio>
#include <cstdlib>

#include "data/cifar.h"
#include "data/fashion_mnist.h"
#include "data/image_folder.h"
#include "data/synthetic.h"

namespace trim {
namespace {
[[noreturn]] void not_in_this_target(const char* what) {
  std::fprintf(stderr, "fuzz_manifest: %s called: manifest parsing must not load data\n", what);
  std::abort();
}
}  // namespace

std::shared_ptr<Dataset> load_cifar(int, const std::string&, const std::string&, const DataOptions&) {
  not_in_this_target("load_cifar");
}
std::shared_ptr<Dataset> load_fashion_mnist(const std::string&, const std::string&) {
  not_in_this_target("load_fashion_mnist");
}
std::shared_ptr<Dataset> load_image_folder(const std::string&, const std::string&, const DataOptions&) {
  not_in_this_target("load_image_folder");
}
std::shared_ptr<Dataset> make_synthetic(Shape, int, int64_t, uint32_t) { not_in_this_target("make_synthetic"); }

}  // namespace trim
