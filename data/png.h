#pragma once
// PNG decoding with libpng's simplified API, for the few PNGs in image folders (ImageNet holds one
// PNG named .JPEG).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/jpeg.h"

namespace trim {

// Whether `data` starts with the PNG signature.
bool is_png(const uint8_t* data, size_t size);

// The image size in a PNG's header. Throws trim::Error "<name>: not a readable PNG: <why>".
JpegHeader png_header(const uint8_t* data, size_t size, const std::string& name);

// Decodes to 8-bit `channels` 3 (RGB) or 1 (grey); palette, 16-bit and grey images are converted by
// libpng. An alpha channel is composited onto black (libpng's simplified API without a
// background; PIL's convert("RGB") drops it instead, so transparent pixels differ). Images over
// 2^28 pixels are refused. Throws trim::Error naming `name` and libpng's message.
DecodedImage decode_png(const uint8_t* data, size_t size, int channels, const std::string& name);

// Encodes an HWC u8 image (channels 1 or 3) losslessly, for tests.
std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t width, int64_t height, int channels);

}  // namespace trim
