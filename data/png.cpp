#include "data/png.h"

#include <png.h>

#include <cstring>

#include "core/error.h"

namespace trim {
namespace {

constexpr int64_t kMaxPngPixels = int64_t(1) << 28;

// A png_image that is freed on every path.
struct Image {
  Image() {
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
  }
  ~Image() { png_image_free(&img); }
  png_image img;
};

void begin(Image& im, const uint8_t* data, size_t size, const std::string& name) {
  if (!png_image_begin_read_from_memory(&im.img, data, size))
    throw Error(cat(name, ": not a readable PNG: ", im.img.message));
  if (int64_t(im.img.width) * int64_t(im.img.height) > kMaxPngPixels)
    throw Error(
        cat(name, ": PNG of size ", im.img.width, "x", im.img.height, " has more than ", kMaxPngPixels, " pixels"));
}

}  // namespace

bool is_png(const uint8_t* data, size_t size) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return size >= 8 && std::memcmp(data, kSignature, 8) == 0;
}

JpegHeader png_header(const uint8_t* data, size_t size, const std::string& name) {
  Image im;
  begin(im, data, size, name);
  return {int64_t(im.img.width), int64_t(im.img.height)};
}

DecodedImage decode_png(const uint8_t* data, size_t size, int channels, const std::string& name) {
  TRIM_CHECK(channels == 1 || channels == 3, cat("decode_png: channels must be 1 or 3, got ", channels));
  Image im;
  begin(im, data, size, name);
  im.img.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  DecodedImage out;
  out.width = im.img.width;
  out.height = im.img.height;
  out.channels = channels;
  out.pixels.resize(PNG_IMAGE_SIZE(im.img));
  if (!png_image_finish_read(&im.img, nullptr, out.pixels.data(), 0, nullptr))
    throw Error(cat(name, ": not a readable PNG (decoding): ", im.img.message));
  return out;
}

std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t width, int64_t height, int channels) {
  TRIM_CHECK(channels == 1 || channels == 3, cat("encode_png: channels must be 1 or 3, got ", channels));
  Image im;
  im.img.width = png_uint_32(width);
  im.img.height = png_uint_32(height);
  im.img.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&im.img, nullptr, &size, 0, pixels, 0, nullptr))
    throw Error(cat("libpng: cannot encode a ", width, "x", height, " image: ", im.img.message));
  std::vector<uint8_t> out(size);
  if (!png_image_write_to_memory(&im.img, out.data(), &size, 0, pixels, 0, nullptr))
    throw Error(cat("libpng: cannot encode a ", width, "x", height, " image: ", im.img.message));
  out.resize(size);
  return out;
}

}  // namespace trim
