#pragma once
// JPEG decoding with libjpeg-turbo's TurboJPEG API, optionally DCT-scaled.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace trim {

struct JpegHeader {
  int64_t width = 0, height = 0;
};

// An interleaved (HWC) u8 image.
struct DecodedImage {
  std::vector<uint8_t> pixels;
  int64_t width = 0, height = 0;
  int channels = 0;
};

// The image size in a JPEG's header. Throws trim::Error "<name>: not a readable JPEG: <why>".
JpegHeader jpeg_header(const uint8_t* data, size_t size, const std::string& name);

// Decodes to `channels` 3 (RGB) or 1 (greyscale: the luma of a colour JPEG) at the smallest DCT
// scaling factor s in {1/8, 1/4, 1/2, 1} whose output still holds a region of need_w x need_h
// pixels where the full-size image holds box_w x box_h; pass need = box for a full-size decode.
// libjpeg-turbo offers every s = n/8 (tjGetScalingFactors), but only these four have SIMD inverse
// DCTs: on 500x375 photographs a 3/8 ... 7/8 decode took longer than the full-size one. Accurate integer IDCT and fancy upsampling (libjpeg's
// defaults, as PIL). CMYK / YCCK JPEGs (Adobe, inverted) are converted to RGB as PIL does.
// Images over 2^28 pixels are refused.
// Warnings (a truncated file, corrupt data) are errors: throws trim::Error naming `name` and
// libjpeg-turbo's message.
DecodedImage decode_jpeg(const uint8_t* data, size_t size, int channels, double box_w, double box_h, int64_t need_w,
                         int64_t need_h, const std::string& name);

// Encodes an HWC u8 image (channels 1 or 3) at `quality` with 4:2:0 chroma subsampling for colour
// (libjpeg's default, as PIL's). For tests and the data tools.
std::vector<uint8_t> encode_jpeg(const uint8_t* pixels, int64_t width, int64_t height, int channels, int quality);

}  // namespace trim
