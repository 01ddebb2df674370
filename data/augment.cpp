#include "data/augment.h"

#include <algorithm>
#include <climits>
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

// Fixed-point weights as PIL keeps them (22 fraction bits): sums of u8 x weight stay in int32, and
// results round exactly as PIL's do.
constexpr int kPrecisionBits = 22;

// One pass of the separable filter: for each output position, the first input index and the
// normalised weights of the inputs it reads (PIL's precompute_coeffs and normalize_coeffs_8bpc).
struct Taps {
  std::vector<int64_t> first, count;
  std::vector<int32_t> weights;  // out_size * ksize
  int64_t ksize = 0;
};

// Source span [in0, in1) onto out_total outputs, of which out_first .. out_first + out_count are
// made; taps read pixels in [0, limit) and are reported shifted by `origin`.
Taps taps(int64_t limit, int64_t origin, double in0, double in1, int64_t out_total, int64_t out_first,
          int64_t out_count) {
  const double scale = (in1 - in0) / double(out_total);
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;  // the triangle's support is 1
  Taps t;
  t.ksize = int64_t(std::ceil(support)) * 2 + 1;
  t.first.resize(size_t(out_count));
  t.count.resize(size_t(out_count));
  t.weights.assign(size_t(out_count * t.ksize), 0);
  std::vector<double> w(size_t(t.ksize));
  const double ss = 1.0 / filterscale;
  for (int64_t o = 0; o < out_count; ++o) {
    const double center = in0 + (double(out_first + o) + 0.5) * scale;
    // PIL's (int)(v + 0.5), which truncates towards zero; clamped below at 0 either way.
    const int64_t lo = std::max<int64_t>(int64_t(center - support + 0.5), 0);
    const int64_t hi = std::max(lo, std::min<int64_t>(int64_t(center + support + 0.5), limit));
    double total = 0;
    const int64_t n = std::min(hi - lo, t.ksize);
    for (int64_t k = 0; k < n; ++k) {
      w[size_t(k)] = std::max(0.0, 1.0 - std::fabs((double(k + lo) - center + 0.5) * ss));
      total += w[size_t(k)];
    }
    for (int64_t k = 0; k < n; ++k) {
      const double v = total != 0.0 ? w[size_t(k)] / total : w[size_t(k)];
      t.weights[size_t(o * t.ksize + k)] = int32_t(0.5 + v * double(1 << kPrecisionBits));  // v >= 0
    }
    t.first[size_t(o)] = origin + lo;
    t.count[size_t(o)] = n;
  }
  return t;
}

// A fixed-point sum (started at one half) back to u8.
uint8_t to_u8(int32_t acc) { return uint8_t(std::clamp(acc >> kPrecisionBits, 0, 255)); }

// Reflection without repeating the edge (numpy / torchvision "reflect") of index i into [0, n).
int64_t reflect(int64_t i, int64_t n) {
  if (i < 0) i = -i;
  if (i >= n) i = 2 * (n - 1) - i;
  return i;
}

}  // namespace

ItemRandom::ItemRandom(uint64_t seed, int64_t epoch, int64_t index)
    : key_(mix(seed ^ kAugmentTag)),
      c0_(uint32_t(uint64_t(index))),
      c1_(uint32_t(uint64_t(index) >> 32)),
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

ResizeCrop resize_center_crop(int64_t height, int64_t width, int64_t resize_to, int64_t size) {
  TRIM_CHECK(resize_to >= size, cat("Resize(", resize_to, ") is smaller than CenterCrop(", size, ")"));
  ResizeCrop r;
  if (width <= height) {
    r.resized_w = resize_to;
    r.resized_h = int64_t(double(resize_to) * double(height) / double(width));
  } else {
    r.resized_h = resize_to;
    r.resized_w = int64_t(double(resize_to) * double(width) / double(height));
  }
  r.top = round_half_even(double(r.resized_h - size) / 2.0);
  r.left = round_half_even(double(r.resized_w - size) / 2.0);
  r.size = size;
  return r;
}

namespace {

// Both passes over precomputed taps (rows first, as PIL).
void resample(const uint8_t* src, int64_t src_w, int c, const Taps& tx, const Taps& ty, uint8_t* dst) {
  const int64_t out_w = int64_t(tx.first.size()), out_h = int64_t(ty.first.size());
  // Only the rows the vertical pass reads go through the horizontal one.
  int64_t row_lo = INT64_MAX, row_hi = 0;
  for (int64_t y = 0; y < out_h; ++y) {
    row_lo = std::min(row_lo, ty.first[size_t(y)]);
    row_hi = std::max(row_hi, ty.first[size_t(y)] + ty.count[size_t(y)]);
  }
  row_hi = std::max(row_hi, row_lo);
  std::vector<uint8_t> mid(size_t((row_hi - row_lo) * out_w * c));  // HWC, rows row_lo..row_hi
  // Integer sums: the loop order below (chosen for contiguous, vectorisable inner loops) does not
  // change a single result.
  std::vector<int32_t> acc(size_t(out_w * c));
  for (int64_t r = row_lo; r < row_hi; ++r) {
    const uint8_t* in = src + r * src_w * c;
    uint8_t* out = mid.data() + (r - row_lo) * out_w * c;
    for (int64_t x = 0; x < out_w; ++x) {
      const int32_t* w = &tx.weights[size_t(x * tx.ksize)];
      const uint8_t* p = in + tx.first[size_t(x)] * c;
      const int64_t n = tx.count[size_t(x)];
      if (c == 3) {
        int32_t a0 = 1 << (kPrecisionBits - 1), a1 = a0, a2 = a0;
        for (int64_t k = 0; k < n; ++k) {
          a0 += w[k] * p[3 * k];
          a1 += w[k] * p[3 * k + 1];
          a2 += w[k] * p[3 * k + 2];
        }
        out[x * 3] = to_u8(a0), out[x * 3 + 1] = to_u8(a1), out[x * 3 + 2] = to_u8(a2);
        continue;
      }
      for (int ch = 0; ch < c; ++ch) {
        int32_t a = 1 << (kPrecisionBits - 1);
        for (int64_t k = 0; k < n; ++k) a += w[k] * p[k * c + ch];
        out[x * c + ch] = to_u8(a);
      }
    }
  }
  const int64_t row = out_w * c;
  for (int64_t y = 0; y < out_h; ++y) {
    const int32_t* w = &ty.weights[size_t(y * ty.ksize)];
    const int64_t first = ty.first[size_t(y)] - row_lo, n = ty.count[size_t(y)];
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int64_t k = 0; k < n; ++k) {
      const uint8_t* m = mid.data() + (first + k) * row;
      const int32_t wk = w[k];
      int32_t* a = acc.data();
      for (int64_t i = 0; i < row; ++i) a[i] += wk * m[i];
    }
    for (int ch = 0; ch < c; ++ch) {
      uint8_t* out = dst + (int64_t(ch) * out_h + y) * out_w;
      for (int64_t x = 0; x < out_w; ++x) out[x] = to_u8(acc[size_t(x * c + ch)]);
    }
  }
}

}  // namespace

void resample_crop(const uint8_t* src, int64_t src_h, int64_t src_w, int c, const Box& box, int64_t out_h,
                   int64_t out_w, uint8_t* dst) {
  TRIM_CHECK(src_h > 0 && src_w > 0 && out_h > 0 && out_w > 0 && c > 0, "resample_crop: empty image");
  // The crop as an image of its own, starting at the whole pixel the box starts in: for an integer
  // box the arithmetic is PIL's on the cropped image, to the last bit.
  auto axis = [](double b0, double b1, int64_t size, int64_t out) {
    const int64_t origin = std::clamp<int64_t>(int64_t(std::floor(b0)), 0, size - 1);
    const int64_t end = std::clamp<int64_t>(int64_t(std::ceil(b1)), origin + 1, size);
    return taps(end - origin, origin, b0 - double(origin), b1 - double(origin), out, 0, out);
  };
  resample(src, src_w, c, axis(box.x0, box.x1, src_w, out_w), axis(box.y0, box.y1, src_h, out_h), dst);
}

void resample_resize_crop(const uint8_t* src, int64_t src_h, int64_t src_w, int c, const ResizeCrop& rc, uint8_t* dst) {
  TRIM_CHECK(src_h > 0 && src_w > 0 && rc.size > 0 && c > 0, "resample_resize_crop: empty image");
  TRIM_CHECK(rc.top >= 0 && rc.left >= 0 && rc.top + rc.size <= rc.resized_h && rc.left + rc.size <= rc.resized_w,
             "resample_resize_crop: the crop leaves the resized image");
  resample(src, src_w, c, taps(src_w, 0, 0.0, double(src_w), rc.resized_w, rc.left, rc.size),
           taps(src_h, 0, 0.0, double(src_h), rc.resized_h, rc.top, rc.size), dst);
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
