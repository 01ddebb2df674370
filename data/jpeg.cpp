#include "data/jpeg.h"

#include <turbojpeg.h>

#include <algorithm>
#include <climits>

#include "core/error.h"

namespace trim {
namespace {

constexpr int64_t kMaxJpegPixels = int64_t(1) << 28;  // 16384 x 16384

// One decompressor per thread: creating one allocates libjpeg's state, and a handle must not be
// shared between threads.
struct Handle {
  explicit Handle(bool compress) : h(compress ? tjInitCompress() : tjInitDecompress()) {
    if (!h) throw Error(cat("libjpeg-turbo: cannot create a TurboJPEG instance: ", tjGetErrorStr2(nullptr)));
  }
  ~Handle() { tjDestroy(h); }
  tjhandle h;
};

tjhandle decompressor() {
  thread_local Handle handle(false);
  return handle.h;
}

[[noreturn]] void fail(tjhandle h, const std::string& name, const char* what) {
  throw Error(cat(name, ": not a readable JPEG (", what, "): ", tjGetErrorStr2(h)));
}

void check_size(size_t size, const std::string& name) {
  if (size == 0) throw Error(cat(name, ": not a readable JPEG: the file is empty"));
  if (size > ULONG_MAX) throw Error(cat(name, ": file too large for libjpeg-turbo"));
}

}  // namespace

JpegHeader jpeg_header(const uint8_t* data, size_t size, const std::string& name) {
  check_size(size, name);
  tjhandle h = decompressor();
  int w = 0, hgt = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(h, data, (unsigned long)size, &w, &hgt, &subsamp, &colorspace) != 0) fail(h, name, "header");
  return {w, hgt};
}

DecodedImage decode_jpeg(const uint8_t* data, size_t size, int channels, double box_w, double box_h, int64_t need_w,
                         int64_t need_h, const std::string& name) {
  TRIM_CHECK(channels == 1 || channels == 3, cat("decode_jpeg: channels must be 1 or 3, got ", channels));
  check_size(size, name);
  tjhandle h = decompressor();
  int w = 0, hgt = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(h, data, (unsigned long)size, &w, &hgt, &subsamp, &colorspace) != 0) fail(h, name, "header");
  if (w < 1 || hgt < 1) throw Error(cat(name, ": JPEG of size ", w, "x", hgt, " holds no pixels"));
  // A corrupt header can claim 65535 x 65535: refuse it before allocating gigabytes.
  if (int64_t(w) * int64_t(hgt) > kMaxJpegPixels)
    throw Error(cat(name, ": JPEG of size ", w, "x", hgt, " has more than ", kMaxJpegPixels, " pixels"));

  // The smallest factor of 1/8, 1/4, 1/2, 1 whose scaled box still covers need_w x need_h pixels.
  int n = 0;
  const tjscalingfactor* factors = tjGetScalingFactors(&n);
  tjscalingfactor best{1, 1};
  double best_value = 1.0;
  for (int k = 0; k < n; ++k) {
    const tjscalingfactor f = factors[k];
    const double value = double(f.num) / double(f.denom);
    if (value > 1.0 || value >= best_value) continue;
    if (f.num * 8 % f.denom != 0 || (8 * f.num / f.denom) & (8 * f.num / f.denom - 1)) continue;  // 1, 2, 4, 8 / 8
    const double sw = double(TJSCALED(w, f)), sh = double(TJSCALED(hgt, f));
    if (box_w * sw / double(w) >= double(need_w) && box_h * sh / double(hgt) >= double(need_h))
      best = f, best_value = value;
  }
  DecodedImage img;
  img.width = TJSCALED(w, best);
  img.height = TJSCALED(hgt, best);
  img.channels = channels;
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  const int format = cmyk ? TJPF_CMYK : channels == 3 ? TJPF_RGB : TJPF_GRAY;
  const int decoded_channels = cmyk ? 4 : channels;
  std::vector<uint8_t> out(size_t(img.width * img.height * decoded_channels));
  if (tjDecompress2(h, data, (unsigned long)size, out.data(), int(img.width), 0, int(img.height), format,
                    TJFLAG_STOPONWARNING) != 0)
    fail(h, name, "decoding");
  if (!cmyk) {
    img.pixels = std::move(out);
    return img;
  }
  // Adobe CMYK is stored inverted: libjpeg hands back 255 - C etc., and RGB = inverted C * inverted K.
  img.pixels.resize(size_t(img.width * img.height * channels));
  for (int64_t p = 0; p < img.width * img.height; ++p) {
    const uint8_t* q = &out[size_t(p * 4)];
    uint8_t rgb[3];
    for (int c = 0; c < 3; ++c) rgb[c] = uint8_t((int(q[c]) * int(q[3]) + 127) / 255);
    if (channels == 3) {
      for (int c = 0; c < 3; ++c) img.pixels[size_t(p * 3 + c)] = rgb[c];
    } else {
      img.pixels[size_t(p)] = uint8_t((299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2] + 500) / 1000);
    }
  }
  return img;
}

std::vector<uint8_t> encode_jpeg(const uint8_t* pixels, int64_t width, int64_t height, int channels, int quality) {
  TRIM_CHECK(channels == 1 || channels == 3, cat("encode_jpeg: channels must be 1 or 3, got ", channels));
  thread_local Handle handle(true);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  if (tjCompress2(handle.h, pixels, int(width), 0, int(height), channels == 3 ? TJPF_RGB : TJPF_GRAY, &buf, &size,
                  channels == 3 ? TJSAMP_420 : TJSAMP_GRAY, quality, 0) != 0)
    throw Error(cat("libjpeg-turbo: cannot encode a ", width, "x", height, " image: ", tjGetErrorStr2(handle.h)));
  std::vector<uint8_t> out(buf, buf + size);
  tjFree(buf);
  return out;
}

}  // namespace trim
