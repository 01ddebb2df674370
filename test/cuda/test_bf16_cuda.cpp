// The bf16 precision policy on the GPU against the CPU: the cast kernel bit for bit, cuBLAS's bf16
// products and cuDNN's bf16 convolutions against CPU f32 kernels run on bf16-rounded inputs. A
// product of two bf16 values is exact in f32, so that reference is the policy itself; what remains
// is the f32 summation order and, for the convolutions, cuDNN's bf16 output (its legacy API keeps
// x, w and y of one type), which the reference rounds too.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>

#include "core/bf16.h"
#include "core/cuda/transpose.h"
#include "core/device.h"
#include "core/ops/precision.h"
#include "test/support/compare.h"
#include "test/support/kernel_call.h"

using namespace trim;
using namespace trim::test;

namespace {

const Device kGpu = Device::cuda(0);

// The summation order of f32 accumulation (cuBLAS tensor cores against OpenBLAS): products are
// exact, so only the order of at most k additions differs.
constexpr Tolerance kF32Order{1e-4, 2e-4};

std::vector<float> rounded(const std::vector<float>& v) {
  std::vector<float> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = bf16_to_float(float_to_bf16(v[i]));
  return r;
}

std::vector<bf16> to_bf16(const std::vector<float>& v) {
  std::vector<bf16> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = float_to_bf16(v[i]);
  return r;
}

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// The distance between r (a bf16 value) and the next bf16 value away from zero.
double bf16_ulp(float r) {
  if (r == 0.0f || !std::isfinite(r)) return 0.0;
  int e = 0;
  std::frexp(double(r), &e);  // |r| in [2^(e-1), 2^e)
  return std::ldexp(1.0, e - 8);  // 8 significant bits
}

// got (a CUDA bf16 convolution's f32 output) against want (the exact f32 result, rounded here to
// bf16 as cuDNN rounds its output). Empty when: no NaN; every element within one bf16 ulp of the
// rounded reference (plus 1e-5 of the largest, for cancellation near zero); and at least 90 % of
// the elements equal to it bit for bit. Summation order moves a result across a rounding boundary
// for well under 1 % of the elements; f32 inputs left unrounded, or rounded otherwise than to
// nearest even, move half of them.
std::string check_bf16_output(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return "size " + std::to_string(got.size()) + " != " + std::to_string(want.size());
  std::vector<float> r = rounded(want);
  double peak = 0;
  for (float v : r) peak = std::max(peak, double(std::fabs(v)));
  size_t equal = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (bits_of(got[i]) == bits_of(r[i])) {
      ++equal;
      continue;
    }
    const double err = std::fabs(double(got[i]) - double(r[i]));
    if (!(err <= bf16_ulp(r[i]) + 1e-5 * peak)) {  // also catches NaN
      std::ostringstream s;
      s << "element " << i << ": got " << got[i] << ", want " << r[i] << " (exact " << want[i] << "), more than one bf16 ulp apart";
      return s.str();
    }
  }
  if (double(equal) < 0.9 * double(got.size())) {
    std::ostringstream s;
    s << "only " << equal << " of " << got.size() << " elements equal the bf16-rounded reference";
    return s.str();
  }
  return "";
}

}  // namespace

TEST_CASE("bf16 cast kernel matches the CPU bit for bit", "[cuda][bf16]") {
  // Ties (to even, both ways), values that round up into the next binade and to infinity, the
  // largest finite values, subnormals, signed zeros, infinities and NaNs, then random values.
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(),
                          1.0f + 1.0f / 256, 1.0f + 3.0f / 256, 1.0f + 1.0f / 256 + 1.0f / 65536, 1.99999988f,
                          3.3961514e38f};
  uint32_t nan_payload = 0x7f800001u;  // a signalling NaN: made quiet
  float snan;
  std::memcpy(&snan, &nan_payload, 4);
  v.push_back(snan);
  std::vector<float> random = normal_values(100003, 11, 3.0f);  // odd: a grid-stride tail
  v.insert(v.end(), random.begin(), random.end());
  const Shape s{int64_t(v.size())};

  Tensor x_cpu = Tensor::from_vector(s, v, Device::cpu()), y_cpu = Tensor::empty(s, DType::bf16, Device::cpu());
  cpu::cast(x_cpu, y_cpu);
  Tensor x_gpu = Tensor::from_vector(s, v, kGpu), y_gpu = Tensor::empty(s, DType::bf16, kGpu);
  cuda::cast(x_gpu, y_gpu);
  std::vector<bf16> want = y_cpu.to_vector<bf16>(), got = y_gpu.to_vector<bf16>();
  REQUIRE(got.size() == want.size());
  size_t differ = 0;
  for (size_t i = 0; i < got.size(); ++i) differ += got[i].bits != want[i].bits;
  CHECK(differ == 0);
  CHECK(want[11].bits == float_to_bf16(1.0f).bits);  // 1 + 2^-8 is a tie: to even (down)
  CHECK(want[12].bits == uint16_t(float_to_bf16(1.0f).bits + 2));  // 1 + 3 * 2^-8: a tie, to even (up)

  // And back: widening is exact, so both backends give the same f32 bits.
  Tensor back_cpu = Tensor::empty(s, DType::f32, Device::cpu()), back_gpu = Tensor::empty(s, DType::f32, kGpu);
  cpu::cast(y_cpu, back_cpu);
  cuda::cast(y_gpu, back_gpu);
  std::vector<float> bc = back_cpu.to_vector<float>(), bg = back_gpu.to_vector<float>();
  size_t differ_back = 0;
  for (size_t i = 0; i < bc.size(); ++i) differ_back += bits_of(bc[i]) != bits_of(bg[i]);
  CHECK(differ_back == 0);
}

TEST_CASE("gemm_bf16 matches an f32 product of the rounded operands", "[cuda][bf16][gemm]") {
  const int64_t m = 67, n = 130, k = 301;  // not multiples of the tile sizes
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (float beta : {0.0f, 1.0f}) {
        INFO("ta " << ta << ", tb " << tb << ", beta " << beta);
        std::vector<float> a = normal_values(m * k, 21), b = normal_values(k * n, 22), c0 = normal_values(m * n, 23);
        std::vector<float> ar = rounded(a), br = rounded(b);
        std::vector<float> want = c0;
        cpu::gemm(ta, tb, m, n, k, 0.5f, ar.data(), br.data(), beta, want.data());

        Tensor ga = Tensor::from_vector(Shape{m * k}, to_bf16(a), kGpu);
        Tensor gb = Tensor::from_vector(Shape{k * n}, to_bf16(b), kGpu);
        // beta = 0 never reads C: it starts as NaN.
        Tensor gc = beta == 0.0f ? Tensor::full(Shape{m * n}, NAN, DType::f32, kGpu) : Tensor::from_vector(Shape{m * n}, c0, kGpu);
        cuda::gemm_bf16(ta, tb, m, n, k, 0.5f, ga.data<bf16>(), gb.data<bf16>(), beta, gc.data<float>());
        CHECK(compare(gc.to_vector<float>(), want, kF32Order) == "");
      }

  SECTION("k = 0: C = beta C, and beta = 0 never reads C") {
    Tensor c = Tensor::full(Shape{3, 4}, 2.0f, DType::f32, kGpu);
    cuda::gemm_bf16(false, true, 3, 4, 0, 1.0f, nullptr, nullptr, 1.0f, c.data<float>());
    CHECK(c.to_vector<float>() == std::vector<float>(12, 2.0f));
    Tensor z = Tensor::full(Shape{3, 4}, NAN, DType::f32, kGpu);
    cuda::gemm_bf16(true, false, 3, 4, 0, 1.0f, nullptr, nullptr, 0.0f, z.data<float>());
    CHECK(z.to_vector<float>() == std::vector<float>(12, 0.0f));
  }

  SECTION("the result does not depend on the math mode a previous f32 product left") {
    std::vector<float> a = normal_values(64 * 96, 24), b = normal_values(96 * 80, 25);
    Tensor fa = Tensor::from_vector(Shape{64 * 96}, a, kGpu), fb = Tensor::from_vector(Shape{96 * 80}, b, kGpu);
    Tensor ha = Tensor::from_vector(Shape{64 * 96}, to_bf16(a), kGpu), hb = Tensor::from_vector(Shape{96 * 80}, to_bf16(b), kGpu);
    Tensor scratch = Tensor::empty(Shape{64 * 80}, DType::f32, kGpu);
    std::vector<std::vector<float>> results;
    for (bool tf32 : {true, false}) {
      set_tf32(false, tf32);
      cuda::gemm(false, false, 64, 80, 96, 1.0f, fa.data<float>(), fb.data<float>(), 0.0f, scratch.data<float>());
      Tensor c = Tensor::empty(Shape{64 * 80}, DType::f32, kGpu);
      cuda::gemm_bf16(false, false, 64, 80, 96, 1.0f, ha.data<bf16>(), hb.data<bf16>(), 0.0f, c.data<float>());
      results.push_back(c.to_vector<float>());
    }
    set_tf32(false, false);
    size_t differ = 0;
    for (size_t i = 0; i < results[0].size(); ++i) differ += bits_of(results[0][i]) != bits_of(results[1][i]);
    CHECK(differ == 0);
  }

  CHECK_THROWS_WITH(cuda::gemm_bf16(false, false, int64_t(1) << 31, 1, 1, 1.0f, nullptr, nullptr, 0.0f, nullptr),
                    Catch::Contains("2^31 - 1"));
}

TEST_CASE("layout transposes match their CPU twin", "[cuda][bf16][conv]") {
  // The CPU twin: out[b][s][r] from in[b][r][s] (core/cuda/transpose.h).
  auto twin = [](const auto& in, auto convert, auto& out, int64_t batches, int64_t rows, int64_t cols) {
    for (int64_t b = 0; b < batches; ++b)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
          convert(out[size_t((b * cols + c) * rows + r)], in[size_t((b * rows + r) * cols + c)]);
  };
  struct Size {
    int64_t batches, rows, cols;
  };
  // Partial tiles on both sides, one row or one column, exact tiles, and more tiles than the grid
  // has blocks (the grid-stride loop) with more planes than gridDim.y/z could hold.
  const Size kSizes[] = {{3, 37, 45}, {1, 1, 70}, {2, 64, 1}, {1, 32, 64}, {2, 33, 31}, {70000, 1, 3}};
  for (const Size& z : kSizes) {
    INFO("batches " << z.batches << ", rows " << z.rows << ", cols " << z.cols);
    const int64_t n = z.batches * z.rows * z.cols;
    const Shape s{n};
    const std::vector<float> v = normal_values(n, 51), acc0 = normal_values(n, 52);
    const std::vector<bf16> vb = to_bf16(v);

    std::vector<bf16> want_b(static_cast<size_t>(n));
    twin(v, [](bf16& o, float i) { o = float_to_bf16(i); }, want_b, z.batches, z.rows, z.cols);
    Tensor in32 = Tensor::from_vector(s, v, kGpu), in16 = Tensor::from_vector(s, vb, kGpu);
    Tensor out_a = Tensor::empty(s, DType::bf16, kGpu), out_b = Tensor::empty(s, DType::bf16, kGpu);
    cuda::transpose_to_bf16(in32.data<float>(), out_a.data<bf16>(), z.batches, z.rows, z.cols);
    cuda::transpose_to_bf16(in16.data<bf16>(), out_b.data<bf16>(), z.batches, z.rows, z.cols);
    std::vector<bf16> got_a = out_a.to_vector<bf16>(), got_b = out_b.to_vector<bf16>();
    size_t differ_a = 0, differ_b = 0;
    for (size_t i = 0; i < size_t(n); ++i) {
      differ_a += got_a[i].bits != want_b[i].bits;
      differ_b += got_b[i].bits != want_b[i].bits;  // rounding vb again changes nothing
    }
    CHECK(differ_a == 0);
    CHECK(differ_b == 0);

    std::vector<float> want_0(static_cast<size_t>(n)), want_1 = acc0;
    twin(vb, [](float& o, bf16 i) { o = bf16_to_float(i); }, want_0, z.batches, z.rows, z.cols);
    twin(vb, [](float& o, bf16 i) { o += bf16_to_float(i); }, want_1, z.batches, z.rows, z.cols);
    Tensor w0 = Tensor::empty(s, DType::f32, kGpu);  // poisoned (NaN): beta 0 must not read it
    Tensor w1 = Tensor::from_vector(s, acc0, kGpu);
    cuda::transpose_widen(in16.data<bf16>(), w0.data<float>(), 0.0f, z.batches, z.rows, z.cols);
    cuda::transpose_widen(in16.data<bf16>(), w1.data<float>(), 1.0f, z.batches, z.rows, z.cols);
    std::vector<float> got_0 = w0.to_vector<float>(), got_1 = w1.to_vector<float>();
    size_t differ_0 = 0, differ_1 = 0;
    for (size_t i = 0; i < size_t(n); ++i) {
      differ_0 += bits_of(got_0[i]) != bits_of(want_0[i]);
      differ_1 += bits_of(got_1[i]) != bits_of(want_1[i]);
    }
    CHECK(differ_0 == 0);
    CHECK(differ_1 == 0);
  }
  Tensor t = Tensor::empty(Shape{4}, DType::f32, kGpu);
  CHECK_THROWS_WITH(cuda::transpose_widen(nullptr, t.data<float>(), 0.5f, 1, 2, 2), Catch::Contains("expected 0 or 1"));
  cuda::transpose_widen(nullptr, nullptr, 0.0f, 0, 5, 5);  // empty: no launch
}

namespace {

const ConvCase kConvs[] = {
    {"3x3, pad 1, groups 1", Shape{2, 8, 9, 11}, Shape{16, 8, 3, 3}, {1, 1, 1, 1, 1, 1, 1}},
    {"3x3/2, pad 1, groups 2", Shape{3, 8, 10, 9}, Shape{12, 4, 3, 3}, {2, 2, 1, 1, 1, 1, 2}},
    {"depthwise 3x3, pad (0, 1), stride (1, 2)", Shape{2, 6, 7, 8}, Shape{6, 1, 3, 3}, {1, 2, 0, 1, 1, 1, 6}},
    {"1x1/2 downsample", Shape{4, 16, 8, 8}, Shape{32, 16, 1, 1}, {2, 2, 0, 0, 1, 1, 1}},
    {"5x5 dilated 2, pad 4", Shape{2, 4, 12, 12}, Shape{8, 4, 5, 5}, {1, 1, 4, 4, 2, 2, 1}},
    {"3x3 at 28x28, 64 channels (tensor-core engines)", Shape{8, 64, 28, 28}, Shape{64, 64, 3, 3}, {1, 1, 1, 1, 1, 1, 1}},
};

// The reference of a bf16 convolution: CPU f32 kernels on the bf16-rounded x, w and gy.
struct ConvReference {
  Tensor y, gx, gw;
};
ConvReference reference(const ConvCase& c, const std::vector<float>& x, const std::vector<float>& w,
                        const std::vector<float>& gy) {
  const Shape ys = c.y();
  Tensor xr = Tensor::from_vector(c.x, rounded(x), Device::cpu()), wr = Tensor::from_vector(c.w, rounded(w), Device::cpu());
  Tensor gyr = Tensor::from_vector(ys, rounded(gy), Device::cpu());
  ConvReference r{Tensor::empty(ys, DType::f32, Device::cpu()), Tensor::empty(c.x, DType::f32, Device::cpu()),
                  Tensor::empty(c.w, DType::f32, Device::cpu())};
  cpu::conv2d_forward(xr, wr, Tensor(), r.y, c.p);
  cpu::conv2d_backward_data(gyr, wr, r.gx, c.p);
  cpu::conv2d_backward_filter(xr, gyr, r.gw, c.p, 0.0f);
  return r;
}

// An input on the GPU in the dtype asked for (bf16: the values rounded).
Tensor gpu_input(const Shape& s, const std::vector<float>& v, DType dt) {
  return dt == DType::bf16 ? Tensor::from_vector(s, to_bf16(v), kGpu) : Tensor::from_vector(s, v, kGpu);
}

}  // namespace

TEST_CASE("bf16 convolutions match f32 convolutions of the rounded inputs", "[cuda][bf16][conv]") {
  struct Dtypes {
    const char* name;
    DType x, gy, weight;
  };
  // f32 activations with the bf16 weight copy and a bf16 output gradient (the policy's case: the
  // op rounds gy once for both backward passes), everything bf16, and bf16 activations with an f32
  // weight: each f32 input is rounded inside the kernel. Every backward-filter call has a bf16
  // input, so every pass computes in bf16.
  const Dtypes kDtypes[] = {{"f32 activations, bf16 weight and gradient", DType::f32, DType::bf16, DType::bf16},
                            {"bf16 activations and weight", DType::bf16, DType::bf16, DType::bf16},
                            {"bf16 activations, f32 weight", DType::bf16, DType::bf16, DType::f32}};
  // Each shape in both layouts, channels-last first (the default): plans keyed without the layout
  // would hand the NCHW calls NHWC descriptors. Grouped convolutions run NCHW either way; those
  // with 16 channels or more must really run NHWC (no fallback), or the transposes at the call
  // sites go untested: counted per shape.
  struct Restore {
    bool was = cuda::channels_last();
    ~Restore() { set_cudnn_channels_last(was); }
  } restore;
  for (const bool channels_last : {true, false})
  for (const ConvCase& c : kConvs) {
    set_cudnn_channels_last(channels_last);
    const int64_t nhwc_before = cuda::channels_last_calls();
    const Shape ys = c.y();
    std::vector<float> x = normal_values(c.x.numel(), 31), w = normal_values(c.w.numel(), 32, 0.2f);
    std::vector<float> gy = normal_values(ys.numel(), 33), gw0 = normal_values(c.w.numel(), 34);
    const ConvReference ref = reference(c, x, w, gy);
    const Tensor &y_ref = ref.y, &gx_ref = ref.gx, &gw_ref = ref.gw;
    // beta = 1: gw0 + the bf16 dW, added in f32 as the kernel adds it.
    std::vector<float> dw = rounded(gw_ref.to_vector<float>()), gw_acc(dw.size());
    for (size_t i = 0; i < dw.size(); ++i) gw_acc[i] = gw0[i] + dw[i];

    for (const Dtypes& d : kDtypes) {
      INFO(c.name << ", x " << c.x.str() << ", w " << c.w.str() << ": " << d.name
                  << (channels_last ? ", channels-last" : ", NCHW"));
      Tensor gx_in = gpu_input(c.x, x, d.x), gw_in = gpu_input(c.w, w, d.weight), ggy = gpu_input(ys, gy, d.gy);
      // Outputs start as NaN (the test main poisons new memory; beta = 0 must not read them).
      Tensor y = Tensor::empty(ys, DType::f32, kGpu), gx = Tensor::empty(c.x, DType::f32, kGpu);
      Tensor gw = Tensor::empty(c.w, DType::f32, kGpu), gw1 = Tensor::from_vector(c.w, gw0, kGpu);
      cuda::conv2d_forward(gx_in, gw_in, Tensor(), y, c.p);
      cuda::conv2d_backward_data(ggy, gw_in, gx, c.p);
      cuda::conv2d_backward_filter(gx_in, ggy, gw, c.p, 0.0f);
      cuda::conv2d_backward_filter(gx_in, ggy, gw1, c.p, 1.0f);
      {
        INFO("forward");
        CHECK(check_bf16_output(y.to_vector<float>(), y_ref.to_vector<float>()) == "");
      }
      {
        INFO("backward-data");
        CHECK(check_bf16_output(gx.to_vector<float>(), gx_ref.to_vector<float>()) == "");
      }
      {
        INFO("backward-filter, beta 0");
        CHECK(check_bf16_output(gw.to_vector<float>(), gw_ref.to_vector<float>()) == "");
      }
      {
        INFO("backward-filter, beta 1");
        // The f32 sum gw0 + dW is the same on both sides; only dW's own bf16 rounding may differ,
        // by one bf16 ulp of dW, for a few elements.
        std::vector<float> got = gw1.to_vector<float>();
        double peak = 0;
        for (float v : dw) peak = std::max(peak, double(std::fabs(v)));
        size_t differ = 0, far = 0;
        for (size_t i = 0; i < got.size(); ++i) {
          differ += bits_of(got[i]) != bits_of(gw_acc[i]);
          far += !(std::fabs(double(got[i]) - double(gw_acc[i])) <= 1.01 * bf16_ulp(dw[i]) + 1e-5 * peak);
        }
        CHECK(far == 0);
        CHECK(differ <= got.size() / 10);
      }
    }
    INFO(c.name << (channels_last ? ", channels-last" : ", NCHW"));
    // 3 dtype sets x 4 calls on NHWC operands where the layout applies. The convolutions the bf16
    // policy computes in bf16 (at least 16 channels) must run NHWC; cuDNN may refuse it for fewer
    // channels (their fallback to NCHW is then what runs, and what was checked above).
    const int64_t nhwc = cuda::channels_last_calls() - nhwc_before;
    if (!channels_last || c.p.groups != 1) {
      CHECK(nhwc == 0);
    } else if (c.x[1] >= kBf16MinChannels) {
      CHECK(nhwc == 12);
    } else {
      CHECK(nhwc <= 12);
      if (nhwc < 12) WARN(c.name << ": " << 12 - nhwc << " of 12 calls fell back to NCHW");
    }
  }
}

TEST_CASE("channels-last bf16 convolutions run under cuDNN's timed search too", "[cuda][bf16][conv]") {
  // benchmark() ranks by cudnnFind*Ex on the NHWC temporaries (the backward-filter search writes
  // scratch, not the gradient); the results must be the same bf16-rounded products.
  struct Restore {
    bool cl = cuda::channels_last(), bench = cuda::benchmark();
    ~Restore() {
      set_cudnn_channels_last(cl);
      set_benchmark(bench);
    }
  } restore;
  set_cudnn_channels_last(true);
  set_benchmark(true);
  const ConvCase& c = kConvs[5];  // 64 channels at 28x28
  const Shape ys = c.y();
  std::vector<float> x = normal_values(c.x.numel(), 61), w = normal_values(c.w.numel(), 62, 0.2f);
  std::vector<float> gy = normal_values(ys.numel(), 63);
  const ConvReference ref = reference(c, x, w, gy);

  Tensor gx_in = gpu_input(c.x, x, DType::f32), gw_in = gpu_input(c.w, w, DType::bf16), ggy = gpu_input(ys, gy, DType::bf16);
  const int64_t nhwc_before = cuda::channels_last_calls();
  for (int round = 0; round < 2; ++round) {  // the second call reuses the ranked plan
    INFO("round " << round);
    Tensor y = Tensor::empty(ys, DType::f32, kGpu), gx = Tensor::empty(c.x, DType::f32, kGpu);
    Tensor gw = Tensor::empty(c.w, DType::f32, kGpu);
    cuda::conv2d_forward(gx_in, gw_in, Tensor(), y, c.p);
    cuda::conv2d_backward_data(ggy, gw_in, gx, c.p);
    cuda::conv2d_backward_filter(gx_in, ggy, gw, c.p, 0.0f);
    CHECK(check_bf16_output(y.to_vector<float>(), ref.y.to_vector<float>()) == "");
    CHECK(check_bf16_output(gx.to_vector<float>(), ref.gx.to_vector<float>()) == "");
    CHECK(check_bf16_output(gw.to_vector<float>(), ref.gw.to_vector<float>()) == "");
  }
  CHECK(cuda::channels_last_calls() - nhwc_before == 6);
}

TEST_CASE("f32 and bf16 convolutions of one shape keep their own plans", "[cuda][bf16][conv]") {
  // A plan cache keyed without the dtype would hand the bf16 call FLOAT descriptors (cuDNN would
  // read bf16 memory as f32) or the next f32 call BFLOAT16 ones.
  const ConvCase& c = kConvs[0];
  const Shape ys = c.y();
  std::vector<float> x = normal_values(c.x.numel(), 41), w = normal_values(c.w.numel(), 42, 0.2f);
  Tensor xc = Tensor::from_vector(c.x, x, Device::cpu()), wc = Tensor::from_vector(c.w, w, Device::cpu());
  Tensor y32 = Tensor::empty(ys, DType::f32, Device::cpu());
  cpu::conv2d_forward(xc, wc, Tensor(), y32, c.p);
  Tensor xr = Tensor::from_vector(c.x, rounded(x), Device::cpu()), wr = Tensor::from_vector(c.w, rounded(w), Device::cpu());
  Tensor y16 = Tensor::empty(ys, DType::f32, Device::cpu());
  cpu::conv2d_forward(xr, wr, Tensor(), y16, c.p);

  Tensor gx = Tensor::from_vector(c.x, x, kGpu), gw = Tensor::from_vector(c.w, w, kGpu);
  Tensor gw16 = gpu_input(c.w, w, DType::bf16), y = Tensor::empty(ys, DType::f32, kGpu);
  for (int round = 0; round < 2; ++round) {
    INFO("round " << round);
    cuda::conv2d_forward(gx, gw, Tensor(), y, c.p);
    CHECK(compare(y.to_vector<float>(), y32.to_vector<float>(), kFp32) == "");
    cuda::conv2d_forward(gx, gw16, Tensor(), y, c.p);
    CHECK(check_bf16_output(y.to_vector<float>(), y16.to_vector<float>()) == "");
  }
}

TEST_CASE("bf16 convolutions refuse other dtypes with one clear error", "[cuda][bf16][conv]") {
  const ConvCase& c = kConvs[0];
  Tensor x = Tensor::zeros(c.x, DType::i32, kGpu), w = Tensor::zeros(c.w, DType::bf16, kGpu);
  Tensor y = Tensor::empty(c.y(), DType::f32, kGpu), y16 = Tensor::empty(c.y(), DType::bf16, kGpu);
  CHECK_THROWS_WITH(cuda::conv2d_forward(x, w, Tensor(), y, c.p), Catch::Contains("x is i32") && Catch::Contains("expected f32 or bf16"));
  Tensor xb = Tensor::zeros(c.x, DType::bf16, kGpu);
  CHECK_THROWS_WITH(cuda::conv2d_forward(xb, w, Tensor(), y16, c.p), Catch::Contains("y is bf16; expected f32"));
}
