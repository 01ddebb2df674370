#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/random/philox.h"

namespace trim {
namespace {

// SplitMix64's finaliser: a seed maps to an unrelated key.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

constexpr uint64_t kAugmentTag = 0x6175676D656E7431ull;  // "augment1"

// Python's round(): halves to even (the default floating-point rounding mode).
int64_t round_half_even(double x) { return int64_t(std::nearbyint(x)); }

// One pass of the separable filter: for each output position, the first input index and the
// normalised weights of the inputs it reads (PIL's precompute_coeffs, in double precision).
struct Taps {
  std::vector<int64_t> first, count;
  std::vector<double> weights;  // out_size * ksize
  int64_t ksize = 0;
};

Taps taps(int64_t in_size, double in0, double in1, int64_t out_size) {
  const double scale = (in1 - in0) / double(out_size);
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;  // the triangle's support is 1
  Taps t;
  t.ksize = int64_t(std::ceil(support)) * 2 + 1;
  t.first.resize(size_t(out_size));
  t.count.resize(size_t(out_size));
  t.weights.assign(size_t(out_size * t.ksize), 0.0);
  for (int64_t x = 0; x < out_size; ++x) {
    const double center = in0 + (double(x) + 0.5) * scale;
    int64_t lo = std::max<int64_t>(int64_t(center - support + 0.5), 0);
    int64_t hi = std::min<int64_t>(int64_t(center + support + 0.5), in_size);
    hi = std::max(hi, lo);
    double* w = &t.weights[size_t(x * t.ksize)];
    double total = 0;
    for (int64_t j = lo; j < hi && j - lo < t.ksize; ++j) {
      double d = std::fabs((double(j) - center + 0.5) / filterscale);
      w[j - lo] = d < 1.0 ? 1.0 - d : 0.0;
      total += w[j - lo];
    }
    int64_t n = std::min(hi - lo, t.ksize);
    if (total > 0)
      for (int64_t k = 0; k < n; ++k) w[k] /= total;
    t.first[size_t(x)] = lo;
    t.count[size_t(x)] = n;
  }
  return t;
}

uint8_t to_u8(double v) { return uint8_t(std::clamp(std::lround(v), 0L, 255L)); }

// Reflection without repeating the edge (numpy / torchvision "reflect") of index i into [0, n).
int64_t reflect(int64_t i, int64_t n) {
  if (i < 0) i = -i;
  if (i >= n) i = 2 * (n - 1) - i;
  return i;
}

}  // namespace

ItemRandom::ItemRandom(uint64_t seed, int64_t epoch, int64_t index)
    : key_(mix(seed ^ kAugmentTag)), c0_(uint32_t(uint64_t(index))), c1_(uint32_t(uint64_t(index) >> 32)),
      c2_(uint32_t(uint64_t(epoch))) {}

uint32_t ItemRandom::next_u32() {
  if (lane_ == 4) {
    philox::Block b = philox::generate(key_, c0_, c1_, c2_, block_++);
    for (int k = 0; k < 4; ++k) words_[k] = b.v[k];
    lane_ = 0;
  }
  return words_[lane_++];
}

double ItemRandom::uniform() { return double(next_u32()) * (1.0 / 4294967296.0); }
double ItemRandom::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
int64_t ItemRandom::below(int64_t n) { return std::min<int64_t>(int64_t(uniform() * double(n)), n - 1); }

CropBox random_resized_crop(int64_t height, int64_t width, double scale_lo, double scale_hi, double ratio_lo,
                            double ratio_hi, ItemRandom& rng) {
  const double area = double(height) * double(width);
  const double log_lo = std::log(ratio_lo), log_hi = std::log(ratio_hi);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(scale_lo, scale_hi);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    const int64_t w = round_half_even(std::sqrt(target_area * aspect));
    const int64_t h = round_half_even(std::sqrt(target_area / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const int64_t top = rng.below(height - h + 1);
      const int64_t left = rng.below(width - w + 1);
      return {top, left, h, w};
    }
  }
  const double in_ratio = double(width) / double(height);
  int64_t w = width, h = height;
  if (in_ratio < ratio_lo) {
    h = round_half_even(double(w) / ratio_lo);
  } else if (in_ratio > ratio_hi) {
    w = round_half_even(double(h) * ratio_hi);
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

Box resize_center_crop(int64_t height, int64_t width, int64_t resize_to, int64_t size) {
  // torchvision's Resize(int): the shorter side becomes resize_to, the longer int(resize_to * long / short).
  int64_t new_h, new_w;
  if (width <= height) {
    new_w = resize_to;
    new_h = int64_t(double(resize_to) * double(height) / double(width));
  } else {
    new_h = resize_to;
    new_w = int64_t(double(resize_to) * double(width) / double(height));
  }
  // CenterCrop: offsets int(round((new - size) / 2)); a negative one pads, which we express as a box
  // reaching outside the image (the resampler clips its taps to the image).
  const int64_t top = round_half_even(double(new_h - size) / 2.0);
  const int64_t left = round_half_even(double(new_w - size) / 2.0);
  const double sy = double(height) / double(new_h), sx = double(width) / double(new_w);
  return {double(left) * sx, double(top) * sy, double(left + size) * sx, double(top + size) * sy};
}

void resample_bilinear(const uint8_t* src, int64_t src_h, int64_t src_w, int c, const Box& box, int64_t out_h,
                       int64_t out_w, uint8_t* dst) {
  TRIM_CHECK(src_h > 0 && src_w > 0 && out_h > 0 && out_w > 0 && c > 0, "resample_bilinear: empty image");
  const Taps tx = taps(src_w, box.x0, box.x1, out_w);
  const Taps ty = taps(src_h, box.y0, box.y1, out_h);
  // Only the rows the vertical pass reads go through the horizontal one.
  int64_t row_lo = src_h, row_hi = 0;
  for (int64_t y = 0; y < out_h; ++y) {
    row_lo = std::min(row_lo, ty.first[size_t(y)]);
    row_hi = std::max(row_hi, ty.first[size_t(y)] + ty.count[size_t(y)]);
  }
  row_hi = std::max(row_hi, row_lo);
  std::vector<uint8_t> mid(size_t((row_hi - row_lo) * out_w * c));  // HWC, rows row_lo..row_hi
  for (int64_t r = row_lo; r < row_hi; ++r) {
    const uint8_t* in = src + r * src_w * c;
    uint8_t* out = mid.data() + (r - row_lo) * out_w * c;
    for (int64_t x = 0; x < out_w; ++x) {
      const double* w = &tx.weights[size_t(x * tx.ksize)];
      const int64_t first = tx.first[size_t(x)], n = tx.count[size_t(x)];
      for (int ch = 0; ch < c; ++ch) {
        double acc = 0;
        for (int64_t k = 0; k < n; ++k) acc += w[k] * in[(first + k) * c + ch];
        out[x * c + ch] = to_u8(acc);
      }
    }
  }
  for (int64_t y = 0; y < out_h; ++y) {
    const double* w = &ty.weights[size_t(y * ty.ksize)];
    const int64_t first = ty.first[size_t(y)], n = ty.count[size_t(y)];
    for (int ch = 0; ch < c; ++ch) {
      uint8_t* out = dst + (int64_t(ch) * out_h + y) * out_w;
      for (int64_t x = 0; x < out_w; ++x) {
        double acc = 0;
        for (int64_t k = 0; k < n; ++k) acc += w[k] * mid[size_t(((first + k - row_lo) * out_w + x) * c + ch)];
        out[x] = to_u8(acc);
      }
    }
  }
}

void flip_horizontal(uint8_t* chw, int c, int64_t h, int64_t w) {
  for (int64_t row = 0; row < int64_t(c) * h; ++row) std::reverse(chw + row * w, chw + (row + 1) * w);
}

void pad_crop(const uint8_t* src, int c, int64_t h, int64_t w, int64_t pad, PadMode mode, int64_t top, int64_t left,
              int64_t out_h, int64_t out_w, uint8_t* dst) {
  for (int ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < out_h; ++y)
      for (int64_t x = 0; x < out_w; ++x) {
        int64_t sy = top + y - pad, sx = left + x - pad;
        uint8_t v = 0;
        if (mode == PadMode::reflect) {
          v = src[(int64_t(ch) * h + reflect(sy, h)) * w + reflect(sx, w)];
        } else if (sy >= 0 && sy < h && sx >= 0 && sx < w) {
          v = src[(int64_t(ch) * h + sy) * w + sx];
        }
        dst[(int64_t(ch) * out_h + y) * out_w + x] = v;
      }
}

}  // namespace trim
