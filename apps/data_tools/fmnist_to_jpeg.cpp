// trim-fmnist-jpeg: Fashion-MNIST as an ImageFolder of JPEGs.
//   trim-fmnist-jpeg --out DIR [--source /usr/share/datasets/fashion-mnist] [--quality 95]
// writes DIR/train/<k>_<class>/<index>.jpg (60000 files) and DIR/val/<k>_<class>/<index>.jpg
// (10000), greyscale 28 x 28 at the given quality. The class folders sort in label order, so the
// image_folder dataset gives every image its Fashion-MNIST label.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/datasets.h"
#include "data/fashion_mnist.h"
#include "data/jpeg.h"

namespace fs = std::filesystem;

namespace {

const char* kClasses[10] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                            "sandal",  "shirt",   "sneaker",  "bag",   "ankle_boot"};

int64_t write_split(const trim::Dataset& data, const fs::path& dir, int quality) {
  for (int k = 0; k < 10; ++k) fs::create_directories(dir / (std::to_string(k) + "_" + kClasses[k]));
  std::vector<uint8_t> image(28 * 28);
  int64_t bytes = 0;
  for (int64_t i = 0; i < data.size(); ++i) {
    const int32_t label = data.get(i, image.data(), {});
    std::vector<uint8_t> jpg = trim::encode_jpeg(image.data(), 28, 28, 1, quality);
    char name[32];
    std::snprintf(name, sizeof name, "%05lld.jpg", static_cast<long long>(i));
    const fs::path path = dir / (std::to_string(label) + "_" + kClasses[label]) / name;
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(jpg.data()), std::streamsize(jpg.size()));
    if (!out) throw trim::Error("cannot write " + path.string());
    bytes += int64_t(jpg.size());
  }
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"write Fashion-MNIST as an ImageFolder of greyscale JPEGs"};
  std::string out, source = trim::kFashionMnistDir;
  int quality = 95;
  app.add_option("--out", out, "output folder (gets train/ and val/)")->required();
  app.add_option("--source", source, "folder of the Fashion-MNIST IDX files");
  app.add_option("--quality", quality, "JPEG quality")->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);
  try {
    for (const char* split : {"train", "test"}) {
      auto data = trim::load_dataset("fashion_mnist", source, split);
      const fs::path dir = fs::path(out) / (std::string(split) == "train" ? "train" : "val");
      int64_t bytes = write_split(*data, dir, quality);
      std::printf("%s: %lld images, %.1f MB of JPEG (quality %d)\n", dir.string().c_str(),
                  static_cast<long long>(data->size()), double(bytes) / 1e6, quality);
    }
  } catch (...) {
    return trim::report_exception("trim-fmnist-jpeg");
  }
  return 0;
}
