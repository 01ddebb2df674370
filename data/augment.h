#pragma once
// Image transforms of the datasets (crops, flips, resampling) and the per-example random numbers
// they draw. Images are u8; "CHW" is planar (channel, row, column), "HWC" interleaved.
#include <cstdint>

namespace trim {

// The random numbers of one example in one epoch: a Philox stream keyed by the seed and counted by
// (index, epoch, draw), so they do not depend on which thread asks or when. The key is the seed
// mixed with a constant, so they are unrelated to the loader's shuffle (which is keyed by the seed).
class ItemRandom {
 public:
  ItemRandom(uint64_t seed, int64_t epoch, int64_t index);
  uint32_t next_u32();
  double uniform();                         // [0, 1), 32 random bits
  double uniform(double lo, double hi);     // [lo, hi)
  int64_t below(int64_t n);                 // uniform in [0, n), n >= 1
  bool coin() { return (next_u32() >> 31) != 0; }  // p = 1/2

 private:
  uint64_t key_;
  uint32_t c0_, c1_, c2_;
  uint32_t block_ = 0;
  uint32_t words_[4] = {};
  int lane_ = 4;
};

// An integer crop rectangle of an image.
struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

// A rectangle in continuous pixel coordinates (pixel x covers [x, x + 1)).
struct Box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// torchvision's RandomResizedCrop.get_params for an image of height x width: up to 10 attempts at
// an area fraction uniform in [scale_lo, scale_hi] and an aspect ratio log-uniform in
// [ratio_lo, ratio_hi] (sides rounded half to even, as Python's round), else the central crop of
// the closest allowed aspect ratio.
CropBox random_resized_crop(int64_t height, int64_t width, double scale_lo, double scale_hi, double ratio_lo,
                            double ratio_hi, ItemRandom& rng);

// torchvision's Resize(resize_to) (the shorter side to resize_to, the longer one truncated)
// followed by CenterCrop(size): the resized image's size and the crop's offset in it.
struct ResizeCrop {
  int64_t resized_h = 0, resized_w = 0, top = 0, left = 0, size = 0;
};
// Requires resize_to >= size (the crop fits).
ResizeCrop resize_center_crop(int64_t height, int64_t width, int64_t resize_to, int64_t size);

// Bilinear (triangle) resampling widened by the downscaling factor, i.e. antialiased as PIL's
// Image.resize(BILINEAR) and torchvision's resize(antialias=True) on PIL images: rows first into an
// u8 intermediate, then columns; per-pixel weights normalised and kept in PIL's fixed point (22
// fraction bits), so results round exactly as PIL's do. Input HWC (src_h x src_w, c channels),
// output CHW.

// torchvision's resized_crop (RandomResizedCrop's resampling): the box, cut out, resized to
// out_h x out_w; the filter reads only pixels inside the box. A fractional box (of a DCT-scaled
// decode) is cut at the whole pixels it touches.
void resample_crop(const uint8_t* src, int64_t src_h, int64_t src_w, int c, const Box& box, int64_t out_h,
                   int64_t out_w, uint8_t* dst);

// Resize + CenterCrop: the whole image resized to rc.resized_h x rc.resized_w, of which the
// rc.size x rc.size window at (rc.top, rc.left) is written. src may be a DCT-scaled decode of the
// image rc was computed for: the filter maps its src_h x src_w onto the resized size.
void resample_resize_crop(const uint8_t* src, int64_t src_h, int64_t src_w, int c, const ResizeCrop& rc,
                          uint8_t* dst);

// Mirrors a CHW image left to right, in place.
void flip_horizontal(uint8_t* chw, int c, int64_t h, int64_t w);

enum class PadMode { zero, reflect };

// torchvision's RandomCrop(size, padding=pad): the CHW image (c x h x w) padded by `pad` on every
// side (zeros, or reflected without repeating the edge), cropped at (top, left) of the padded image
// to out_h x out_w, written CHW to dst. Requires pad < h and pad < w for reflect.
void pad_crop(const uint8_t* src, int c, int64_t h, int64_t w, int64_t pad, PadMode mode, int64_t top, int64_t left,
              int64_t out_h, int64_t out_w, uint8_t* dst);

}  // namespace trim
