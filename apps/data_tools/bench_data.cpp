// trim-bench-data: how fast the image_folder dataset makes training images on one thread.
//   trim-bench-data --root DIR [--size 224] [--seconds 5] [--channels 3]
// reads DIR/train/<class>/*.jpg and runs get() (read the file, DCT-scaled JPEG decode,
// RandomResizedCrop(size) with antialiased bilinear resampling, horizontal flip) over every image,
// epoch after epoch, on the calling thread only, for at least --seconds. Prints one JSON line:
//   {"images": N, "seconds": S, "images_per_second": R, "size": 224, "files": F}
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "core/error.h"
#include "data/datasets.h"

int main(int argc, char** argv) {
  CLI::App app{"images/s of the image_folder training transform on one thread"};
  std::string root;
  int64_t size = 224;
  double seconds = 5.0;
  int channels = 3;
  app.add_option("--root", root, "ImageFolder root (uses its train/ split)")->required();
  app.add_option("--size", size, "RandomResizedCrop output side")->check(CLI::Range(1, 4096));
  app.add_option("--seconds", seconds, "minimum time to run")->check(CLI::Range(0.0, 3600.0));
  app.add_option("--channels", channels, "3 (RGB) or 1 (greyscale)")->check(CLI::IsMember({1, 3}));
  CLI11_PARSE(app, argc, argv);
  try {
    trim::DataOptions o;
    o.image_size = size;
    o.resize = size * 256 / 224;
    o.channels = channels;
    auto data = trim::load_dataset("image_folder", root, "train", o);
    std::vector<uint8_t> out(size_t(data->item_shape().numel()));
    using Clock = std::chrono::steady_clock;
    const Clock::time_point t0 = Clock::now();
    int64_t images = 0;
    double elapsed = 0;
    uint64_t checksum = 0;  // keeps the work observable
    for (int64_t epoch = 0; elapsed < seconds || images == 0; ++epoch) {
      for (int64_t i = 0; i < data->size(); ++i, ++images) {
        data->get(i, out.data(), {0, epoch});
        checksum += out[size_t(i) % out.size()];
      }
      elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    }
    std::printf(
        "{\"images\": %lld, \"seconds\": %.3f, \"images_per_second\": %.1f, \"size\": %lld, \"files\": %lld, "
        "\"checksum\": %llu}\n",
        static_cast<long long>(images), elapsed, double(images) / elapsed, static_cast<long long>(size),
        static_cast<long long>(data->size()), static_cast<unsigned long long>(checksum));
  } catch (...) {
    return trim::report_exception("trim-bench-data");
  }
  return 0;
}
